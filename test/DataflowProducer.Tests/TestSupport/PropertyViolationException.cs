namespace DataflowProducer.Tests.TestSupport;

/// <summary>Thrown by a property test's check when a generated schedule breaks a property; CsCheck shrinks on it.</summary>
internal sealed class PropertyViolationException(string message) : Exception(message);
