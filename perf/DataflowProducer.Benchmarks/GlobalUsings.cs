global using DataflowProducer.Kafka;
