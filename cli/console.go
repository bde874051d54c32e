package cli

import (
	"time"

	"go.temporal.io/sdk/client"

	"github.com/epcflow/epcflow/api"
	"github.com/epcflow/epcflow/codec"
	"github.com/epcflow/epcflow/stack"
	"github.com/epcflow/epcflow/starter"
)

// consoleFlags configure the API's operator console (/console/).
type consoleFlags struct {
	off                            bool
	uiURL, userHeader, proxySecret string
	ttl                            time.Duration
}

func (cf *consoleFlags) register(f *flags) {
	f.boolean(&cf.off, "no-console", false, "serve no operator console under /console/")
	f.str(&cf.uiURL, "temporal-ui-url", "EPCFLOW_TEMPORAL_UI_URL", "", "the Temporal Web UI's base `URL`, for the console's links to a workflow (empty: no links)")
	f.duration(&cf.ttl, "console-session-ttl", "EPCFLOW_CONSOLE_SESSION_TTL", api.DefaultConsoleSessionTTL, "how long a console sign-in lasts")
	f.str(&cf.userHeader, "console-sso-user-header", "EPCFLOW_CONSOLE_SSO_USER_HEADER", "", "single sign-on: the `header` in which an authenticating proxy passes the signed-in user (off when empty; needs --console-sso-proxy-secret)")
	f.secret(&cf.proxySecret, "console-sso-proxy-secret", "EPCFLOW_CONSOLE_SSO_PROXY_SECRET", "", "single sign-on: the secret the proxy sends in "+api.ConsoleProxySecretHeader+", so requests that bypass it are refused")
}

// config is the console of an API on client c (nil with --no-console).
func (cf *consoleFlags) config(c client.Client, ring *codec.Keyring, namespace, publicURL string) (*api.Console, error) {
	if cf.off {
		return nil, nil
	}
	if (cf.userHeader == "") != (cf.proxySecret == "") {
		return nil, usageErr("--console-sso-user-header and --console-sso-proxy-secret go together")
	}
	dc, fc := stack.Converters(ring)
	return &api.Console{
		Engine: starter.NewConsole(c, dc, fc), TemporalUIURL: cf.uiURL, Namespace: namespace, PublicURL: publicURL,
		SessionTTL: cf.ttl, ProxyUserHeader: cf.userHeader, ProxySecret: cf.proxySecret,
	}, nil
}
