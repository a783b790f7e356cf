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
    [TestCase("ssl.keystore.password", true)]
    [TestCase("linger.ms", false)]
    [TestCase("sasl.username", false)]
    [TestCase("bootstrap.servers", false)]
    [TestCase("sasl.mechanism", false)]
    [TestCase("sasl.mechanisms", false)]
    [TestCase("security.protocol", false)]
    [TestCase("acks", false)]
    [TestCase("compression.type", false)]
    [TestCase("client.id", false)]
    [TestCase("message.timeout.ms", false)]
    [TestCase("enable.idempotence", false)]
    [TestCase("ssl.ca.location", false)]
    [TestCase("ssl.ca.pem", false)]
    [TestCase("ssl.certificate.pem", false)]
    [TestCase("debug", false)]
    public void IsSecretKey_KnownKeys_Classified(string key, bool secret)
    {
        Assert.That(Secrets.IsSecretKey(key), Is.EqualTo(secret));
    }

    // A mistyped or unusual key holding a secret is masked as well: better a masked value too many than a password
    // printed because a letter was missing.
    [TestCase("sasl.pasword")]
    [TestCase("sasl.psasword")]
    [TestCase("sasl.passwrd")]
    [TestCase("sasl.passwd")]
    [TestCase("sasl.pwd")]
    [TestCase("SASL_PASSWORD")]
    [TestCase(" Sasl.Password ")]
    [TestCase("sasl-password")]
    [TestCase("sasl.paswrod")]
    [TestCase("ssl.key.pasword")]
    [TestCase("ssl.keystore.pasword")]
    [TestCase("sasl.oauthbearer.client.secet")]
    [TestCase("sasl.oauthbearer.confg")]
    [TestCase("sasl.jas.config")]
    [TestCase("my.api.key")]
    [TestCase("sasl.kerberos.keytab")]
    [TestCase("basic.auth.user.info")]
    [TestCase("ssl.key.passphrase")]
    [TestCase("sasl.oauthbearer.token")]
    public void IsSecretKey_KeyThatLooksSecret_Secret(string key)
    {
        Assert.That(Secrets.IsSecretKey(key), Is.True);
    }

    [TestCase(new[] { "-X", "sasl.password=hunter2" }, "hunter2")]
    [TestCase(new[] { "-X", "sasl.password", "hunter2" }, "hunter2")]
    [TestCase(new[] { "-X", "sasl.password=", "hunter2" }, "hunter2")]
    [TestCase(new[] { "-Xsasl.password", "hunter2" }, "hunter2")]
    [TestCase(new[] { "-Xsasl.password=hunter2" }, "hunter2")]
    [TestCase(new[] { "-X=sasl.password=hunter2" }, "hunter2")]
    [TestCase(new[] { "-X:sasl.password=hunter2" }, "hunter2")]
    [TestCase(new[] { "--property", "sasl.password", "hunter2" }, "hunter2")]
    [TestCase(new[] { "--property=sasl.password=hunter2" }, "hunter2")]
    [TestCase(new[] { "--property:sasl.password", "hunter2" }, "hunter2")]
    [TestCase(new[] { "-X", "sasl.pasword", "hunter2" }, "hunter2")]
    [TestCase(new[] { "-X", "sasl.password", "abc" }, "abc")]
    public void FindSecretValues_SecretInAnyArgumentForm_Found(string[] args, string secret)
    {
        Assert.That(Secrets.FindSecretValues(args), Does.Contain(secret));
    }

    [TestCase("-X sasl.password --topic t")]
    [TestCase("-X linger.ms 5")]
    [TestCase("--topic sasl.password -X acks=all")]
    public void FindSecretValues_NoSecretValue_NothingFound(string commandLine)
    {
        Assert.That(Secrets.FindSecretValues(commandLine.Split(' ')), Is.Empty);
    }

    [Test]
    public void RedactingWriter_ShortSecretQuotedInAMessage_Masked()
    {
        using var inner = new StringWriter(CultureInfo.InvariantCulture);
        using (var writer = new RedactingWriter(inner, ["ab"]))
        {
            writer.WriteLine("Unrecognized command or argument 'ab'. Invalid value \"ab\" for property. 'about' absent");
        }

        Assert.That(inner.ToString(), Is.EqualTo($"Unrecognized command or argument '{Secrets.Mask}'. Invalid value \"{Secrets.Mask}\" for property. 'about' absent{Environment.NewLine}"));
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
