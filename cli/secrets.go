package cli

import (
	"strings"

	"github.com/epcflow/epcflow/sandbox"
)

// A production process must be given its own secrets. The sandbox's secrets are public (they
// are in this repository), so a process that falls back to them, or is handed one, would
// trust anyone: `api` would take webhooks signed with sandbox-signing-key from anybody. They
// are accepted only with --sandbox-secrets, for a process that talks to the sandbox; `dev`
// runs everything against its own sandbox and uses them without asking.

// sandboxSecrets is --sandbox-secrets, on the worker and the api.
type sandboxSecrets struct{ on bool }

func (s *sandboxSecrets) register(f *flags) {
	f.boolEnv(&s.on, "sandbox-secrets", "EPCFLOW_SANDBOX_SECRETS",
		"accept the EPC sandbox's public secrets (sandbox-secret, sandbox-signing-key, the sandbox's POS secret and Inbank key) and use them for a required secret not given; only for a process that talks to the sandbox, never in production")
}

// secretRule is one secret of a command.
type secretRule struct {
	value     *string
	flag, env string
	// what the secret protects, for the refusal.
	what string
	// public is the sandbox's value of this secret.
	public string
	// required: the command cannot run without it (optional secrets switch a feature off).
	required bool
	// list: a comma-separated list (signing keys in rotation), each checked.
	list bool
}

// check applies the rules: a required secret not given is refused, or with --sandbox-secrets
// takes the sandbox's value; a sandbox value given is refused without --sandbox-secrets.
// Every refusal is returned at once, each naming its flag and environment variable.
func (s sandboxSecrets) check(rules ...secretRule) error {
	var problems []string
	for _, r := range rules {
		name := "--" + r.flag + " (or " + r.env + ")"
		switch {
		case *r.value == "" && r.required && s.on:
			*r.value = r.public
		case *r.value == "" && r.required:
			problems = append(problems, name+" is required: "+r.what+
				"; against the EPC sandbox, --sandbox-secrets (or EPCFLOW_SANDBOX_SECRETS=true) uses the sandbox's public one")
		case !s.on && isPublic(*r.value, r.public, r.list):
			problems = append(problems, name+" is the EPC sandbox's public secret, which anyone can use: set one of your own ("+r.what+
				"), or, against the sandbox, --sandbox-secrets (or EPCFLOW_SANDBOX_SECRETS=true)")
		}
	}
	if len(problems) > 0 {
		return usageErr("%s", strings.Join(problems, "\n  "))
	}
	return nil
}

func isPublic(v, public string, list bool) bool {
	if !list {
		return v == public
	}
	for _, k := range splitList(v) {
		if k == public {
			return true
		}
	}
	return false
}

// Rules of the secrets the worker and the api share or take.
func epcClientSecretRule(p *string) secretRule {
	return secretRule{value: p, flag: "epc-client-secret", env: "EPC_CLIENT_SECRET", public: sandbox.DefaultClientSecret, required: true,
		what: "the EPC OAuth2 client secret ICE issued for your product"}
}

func webhookKeysRule(p *string) secretRule {
	return secretRule{value: p, flag: "webhook-signing-keys", env: "EPC_WEBHOOK_SIGNING_KEYS", public: sandbox.DefaultSigningKey, required: true, list: true,
		what: "the signing key(s) of your EPC product's webhook subscriptions, which prove a webhook comes from ICE"}
}

func posSecretRule(p *string) secretRule {
	return secretRule{value: p, flag: "pos-signing-secret", env: "POS_SIGNING_SECRET", public: sandbox.DefaultPOSSigningSecret,
		what: "the POS Framework signing secret, which proves a package event comes from ICE"}
}

func inbankKeyRule(p *string) secretRule {
	return secretRule{value: p, flag: "inbank-api-key", env: "INBANK_API_KEY", public: sandbox.DefaultInbankAPIKey,
		what: "the Inbank API key of your shop, which also signs Inbank's callbacks"}
}

// joinRefusals makes one usage error of several, one per line.
func joinRefusals(errs []error) error {
	var msgs []string
	for _, err := range errs {
		msgs = append(msgs, strings.TrimPrefix(err.Error(), errUsage.Error()+": "))
	}
	if len(msgs) == 0 {
		return nil
	}
	return usageErr("%s", strings.Join(msgs, "\n  "))
}
