using System.Globalization;
using DataflowProducer.Cli.Output;

namespace DataflowProducer.Cli.Tests;

public class SecretsTests
{
    [TestCase("sasl.password", true)]
    [TestCase("ssl.key.password", true)]
    [TestCase("ssl.key.pem", true)]
    [TestCase("sasl.oauthbearer.client.secret", true)]
    [TestCase("sasl.oauthbearer.config", true)]
    [TestCase("linger.ms", false)]
    [TestCase("sasl.username", false)]
    [TestCase("bootstrap.servers", false)]
    public void IsSecretKey_KnownKeys_Classified(string key, bool secret)
    {
        Assert.That(Secrets.IsSecretKey(key), Is.EqualTo(secret));
    }

    [Test]
    public void RedactingWriter_SecretWrittenInPieces_NeverReachesTheInnerWriter()
    {
        using var inner = new StringWriter(CultureInfo.InvariantCulture);
        using (var writer = new RedactingWriter(inner, Secrets.FindSecretValues(["-X", "sasl.password=hunter2-secret"])))
        {
            writer.Write("the pass is hunt");
            writer.Write("er2-sec");
            writer.WriteLine("ret, see");
            writer.Write("and -Xsasl.password=hunter2-secret at the end");
        }

        Assert.Multiple(() =>
        {
            Assert.That(inner.ToString(), Does.Not.Contain("hunter2"));
            Assert.That(inner.ToString(), Does.Contain(Secrets.Mask));
        });
    }
}
