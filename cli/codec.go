package cli

import (
	"log/slog"

	"github.com/epcflow/epcflow/codec"
)

// secret registers a string flag for a secret: like str, but -h never shows its value (str
// prints the default, which would be the secret when its environment variable is set).
func (f *flags) secret(p *string, name, envVar, def, usage string) {
	*p = def
	f.Var(secretValue{p}, name, envUsage(usage, envVar, "prefer it: command lines are visible to other users"))
	f.fromEnv(name, envVar)
}

// secretValue is a flag.Value that keeps its string out of help output.
type secretValue struct{ p *string }

func (secretValue) String() string { return "" }

func (s secretValue) Set(v string) error {
	*s.p = v
	return nil
}

// codecKeysFlag is --codec-keys, shared by the commands that read or write payloads.
type codecKeysFlag struct{ keys string }

func (c *codecKeysFlag) register(f *flags) {
	f.secret(&c.keys, "codec-keys", "EPCFLOW_CODEC_KEYS", "",
		"payload encryption `keys`: id:base64key[,id:base64key…], the first encrypting new payloads; every process of a deployment needs the same list (empty: payloads in clear)")
}

// keyring parses the keys; none configured means encryption off, which is logged as a warning.
func (c *codecKeysFlag) keyring(log *slog.Logger) (*codec.Keyring, error) {
	s := c.keys
	if s == "" {
		log.Warn("payload encryption is OFF: workflow inputs, results and failure messages are stored in clear in Temporal; set EPCFLOW_CODEC_KEYS")
		return nil, nil
	}
	k, err := codec.ParseKeys(s)
	if err != nil {
		return nil, usageErr("--codec-keys: %v", err)
	}
	log.Info("payload encryption on", "primaryKeyId", k.PrimaryID(), "keyIds", k.IDs())
	return k, nil
}
