package cli

import (
	"context"
	"fmt"
	"go.temporal.io/sdk/client"
	"log/slog"
	"net"
	"net/http"
	"time"

	sdkworker "go.temporal.io/sdk/worker"

	"github.com/epcflow/epcflow/activities"
	"github.com/epcflow/epcflow/api"
	"github.com/epcflow/epcflow/codec"
	"github.com/epcflow/epcflow/dedup"
	"github.com/epcflow/epcflow/epc"
	"github.com/epcflow/epcflow/internal/httpserver"
	"github.com/epcflow/epcflow/internal/traced"
	"github.com/epcflow/epcflow/metrics"
	"github.com/epcflow/epcflow/portal"
	"github.com/epcflow/epcflow/pos"
	"github.com/epcflow/epcflow/sandbox"
	"github.com/epcflow/epcflow/stack"
	"github.com/epcflow/epcflow/starter"
	"github.com/epcflow/epcflow/worker"
	"github.com/epcflow/epcflow/workflows"
)

type temporalFlags struct{ address, namespace string }

func (t *temporalFlags) register(f *flags) {
	f.str(&t.address, "temporal-address", "TEMPORAL_ADDRESS", "127.0.0.1:7233", "Temporal frontend host:port")
	f.str(&t.namespace, "temporal-namespace", "TEMPORAL_NAMESPACE", "default", "Temporal namespace")
}

// recheckInterval registers --recheck-interval (worker and dev): how often a waiting order
// re-reads its transaction.
func recheckInterval(f *flags, p *time.Duration) {
	f.duration(p, "recheck-interval", "EPCFLOW_RECHECK_INTERVAL", workflows.DefaultRecheckInterval,
		"how often an order waiting for the lender, the operator or the platform re-reads its transaction, acting on a cancellation or update whose webhook ICE gave up on")
}

// txEngine is the transaction workflow's engine with the checked recheck interval.
func txEngine(recheck time.Duration) (*workflows.Engine, error) {
	if recheck <= 0 {
		return nil, usageErr("--recheck-interval %s: must be positive", recheck)
	}
	e := workflows.NewEngine()
	e.RecheckInterval = recheck
	return e, nil
}

// connect dials Temporal with the configured payload keys, a fresh metrics registry and
// opts: what the worker and the API both need before anything else.
func (t *temporalFlags) connect(ctx context.Context, log *slog.Logger, keys *codecKeysFlag, opts ...stack.DialOption) (client.Client, *metrics.Registry, *codec.Keyring, error) {
	ring, err := keys.keyring(log)
	if err != nil {
		return nil, nil, nil, err
	}
	m := metrics.New()
	c, err := stack.Dial(ctx, t.address, t.namespace, log, m, append([]stack.DialOption{stack.WithCodecKeys(ring)}, opts...)...)
	if err != nil {
		return nil, nil, nil, err
	}
	return c, m, ring, nil
}

func runWorker(ctx context.Context, e *env, args []string) error {
	f := newFlags(e, "worker")
	var (
		tf                temporalFlags
		baseURL, clientID string
		blob              blobFlags
		secret            string
		authStyle         epc.AuthStyle
		metricsListen     string
		logs              logging
		codecKeys         codecKeysFlag
		cacheSize         int
		recheck           time.Duration
		sandboxed         sandboxSecrets
		vocabPath         string
	)
	tf.register(f)
	codecKeys.register(f)
	recheckInterval(f, &recheck)
	vocabularyFlag(f, &vocabPath)
	sandboxed.register(f)
	// The SDK keeps up to 10,000 workflows in memory by default, about 70 KB each for an open
	// order: 10,000 orders waiting for appraisers would cost ~700 MB for nothing, since an
	// evicted order is rebuilt from its history in milliseconds when its next event comes.
	f.integer(&cacheSize, "workflow-cache-size", "EPCFLOW_WORKFLOW_CACHE_SIZE", 2000, "workflows kept in memory between tasks (sticky cache); more only saves replays of orders that wait")
	f.str(&baseURL, "epc-base-url", "EPC_BASE_URL", "http://127.0.0.1:8090", "EPC Partner API base URL (production: https://api.elliemae.com)")
	f.str(&clientID, "epc-client-id", "EPC_CLIENT_ID", "sandbox-client", "EPC OAuth2 client id")
	f.secret(&secret, "epc-client-secret", "EPC_CLIENT_SECRET", "", "EPC OAuth2 client secret (required; with --sandbox-secrets, the sandbox's by default)")
	f.value(&authStyle, "epc-auth-style", "EPC_AUTH_STYLE", "`style` in which the EPC client id and secret reach the token endpoint: form (in the form body, as ICE's samples send them; the default) or basic (HTTP Basic, as the curl example of ICE's docs)")
	blob.register(f)
	f.str(&metricsListen, "metrics-listen", "EPCFLOW_METRICS_LISTEN", "127.0.0.1:9090", "address of the worker's /metrics (empty: none)")
	var inbankURL, inbankKey string
	f.str(&inbankURL, "inbank-base-url", "INBANK_BASE_URL", "http://127.0.0.1:8090", "Inbank Partner API base URL")
	f.secret(&inbankKey, "inbank-api-key", "INBANK_API_KEY", "", "Inbank API key (empty: a payment session's Inbank calls fail at once)")
	logs.register(f, "json")
	if err := f.parse(args); err != nil {
		return err
	}
	if err := sandboxed.check(epcClientSecretRule(&secret), inbankKeyRule(&inbankKey)); err != nil {
		return err
	}
	eng, err := txEngine(recheck)
	if err != nil {
		return err
	}
	log, err := logs.logger(e.stderr)
	if err != nil {
		return err
	}
	if eng.Vocabulary, err = loadVocabulary(vocabPath, log); err != nil {
		return err
	}
	store, err := blob.open(ctx, log)
	if err != nil {
		return err
	}
	tr, err := startTracing(ctx, e, "epcflow-worker", log)
	if err != nil {
		return err
	}
	defer tr.stop()
	c, m, _, err := tf.connect(ctx, log, &codecKeys, tr.temporal)
	if err != nil {
		return err
	}
	defer c.Close()
	acts, err := stack.NewActivities(stack.ActivitiesConfig{EPCBaseURL: baseURL, EPCClientID: clientID, EPCClientSecret: secret, EPCAuthStyle: authStyle, Blobs: store, Logger: log, Vocabulary: eng.Vocabulary, Tracer: tr.provider()})
	if err != nil {
		return err
	}
	if cacheSize <= 0 {
		return usageErr("--workflow-cache-size %d: must be positive", cacheSize)
	}
	sdkworker.SetStickyWorkflowCacheSize(cacheSize) // process-wide: before the worker starts
	// Without a key, payment sessions fail at once with "no Inbank client configured".
	var inbank *pos.InbankClient
	if inbankKey != "" {
		inbank = &pos.InbankClient{BaseURL: inbankURL, APIKey: inbankKey, Logger: log, HTTP: stack.InbankHTTPClient(tr.provider())}
	}
	w, err := worker.New(c, worker.Deps{Engine: eng, Transaction: acts, Payment: &activities.Payment{Inbank: inbank}}, worker.Options{})
	if err != nil {
		return err
	}
	if metricsListen != "" {
		stop, err := serve(metricsListen, m.Handler(), httpserver.Limits{}, log)
		if err != nil {
			return err
		}
		defer stop()
	}
	log.Info("worker started", "temporal", tf.address, "namespace", tf.namespace, "epc", baseURL, "recheckInterval", recheck)
	if err := w.Start(); err != nil {
		return fmt.Errorf("start worker: %w", err)
	}
	<-ctx.Done()
	w.Stop()
	return nil
}

func runAPI(ctx context.Context, e *env, args []string) error {
	f := newFlags(e, "api")
	var (
		tf           temporalFlags
		listen, keys string
		blob         blobFlags
		token        string
		logs         logging
		codecKeys    codecKeysFlag
		codecToken   string
		codecOrigins string
		httpf        httpFlags
		reportLimit  int
		uploadTime   time.Duration
		sandboxed    sandboxSecrets
		codecOpen    bool
		sweep        sweepFlags
		vocabPath    string
	)
	tf.register(f)
	vocabularyFlag(f, &vocabPath)
	sandboxed.register(f)
	httpf.register(f, "EPCFLOW_")
	f.integer(&reportLimit, "max-report-bytes", "EPCFLOW_MAX_REPORT_BYTES", api.DefaultMaxReportBytes, "largest report PDF an operator may deliver, in bytes (413 past it)")
	f.duration(&uploadTime, "upload-timeout", "EPCFLOW_UPLOAD_TIMEOUT", api.DefaultUploadTimeout, "time a report delivery's body may take to arrive, instead of --http-read-timeout (counted once the operator token is checked)")
	codecKeys.register(f)
	f.secret(&codecToken, "codec-token", "EPCFLOW_CODEC_TOKEN", "", "bearer `token` required by the codec server at /codec (required with --codec-keys unless --allow-codec-without-token)")
	f.boolean(&codecOpen, "allow-codec-without-token", false, "serve /codec without --codec-token: it then answers loopback clients only (one machine with no reverse proxy: behind a proxy on the same host every caller is loopback)")
	f.str(&codecOrigins, "codec-origins", "EPCFLOW_CODEC_ORIGINS", "", "comma-separated browser origins (the Temporal UI's, e.g. https://temporal.example.com) allowed to call /codec")
	f.str(&listen, "listen", "EPCFLOW_API_LISTEN", ":8080", "address to serve the API on")
	f.secret(&keys, "webhook-signing-keys", "EPC_WEBHOOK_SIGNING_KEYS", "", "comma-separated webhook signing keys; any one verifies (rotation); required (with --sandbox-secrets, the sandbox's by default)")
	blob.register(f)
	sweep.register(f)
	f.secret(&token, "operator-token", "EPCFLOW_OPERATOR_TOKEN", "", "bearer token required by the operator and read endpoints (required unless --allow-open-operator-endpoints)")
	var cons consoleFlags
	cons.register(f)
	var allowOpen bool
	f.boolean(&allowOpen, "allow-open-operator-endpoints", false, "serve /v1 without a bearer token (a local test only: anyone who reaches the API could then act on orders)")
	var sc stack.SessionsConfig
	var portalDSN, portalSecret, dedupDSN string
	var dedupAge time.Duration
	var dedupKeys int
	f.str(&sc.PublicURL, "public-url", "EPCFLOW_PUBLIC_URL", "http://127.0.0.1:8080", "the API's base URL as consumers and Inbank reach it (portal links, callbacks)")
	f.str(&portalDSN, "portal-db", "EPCFLOW_PORTAL_DSN", ".epcflow/portal.db", "portal users' database: a postgres:// DSN or a SQLite file")
	f.str(&dedupDSN, "dedup-db", "EPCFLOW_DEDUP_DSN", "", "`database` of delivered webhooks, shared by every API replica: a postgres:// DSN or a SQLite file (default: the portal's database, a table of its own)")
	f.duration(&dedupAge, "dedup-retention", "EPCFLOW_DEDUP_RETENTION", dedup.DefaultMaxAge, "how long a delivered webhook is remembered, so that a copy of it is dropped (keep it well beyond ICE's retries, about 8h)")
	f.integer(&dedupKeys, "dedup-max-keys", "EPCFLOW_DEDUP_MAX_KEYS", dedup.DefaultMaxKeys, "most delivered webhooks remembered (the oldest are forgotten first)")
	f.str(&sc.POSBaseURL, "pos-base-url", "POS_BASE_URL", "http://127.0.0.1:8090", "ICE POS Framework base URL (Create a Session)")
	f.str(&sc.POSSubscriptionID, "pos-subscription-id", "POS_SUBSCRIPTION_ID", "sandbox-integration", "our POS Framework integration id")
	f.str(&sc.POSKeyID, "pos-signing-key-id", "POS_SIGNING_KEY_ID", "sandbox-pos-key", "POS Framework signing key id")
	f.secret(&sc.POSSecret, "pos-signing-secret", "POS_SIGNING_SECRET", "", "POS Framework signing secret (empty: no Delivery Room endpoints)")
	f.secret(&portalSecret, "portal-secret", "EPCFLOW_PORTAL_SECRET", "", "portal secret: derives the invitation links (at least 32 bytes, e.g. openssl rand -base64 32; comma-separated, the first derives: rotation); required with the Delivery Room endpoints")
	f.duration(&sc.PortalSessionTTL, "portal-session-ttl", "EPCFLOW_PORTAL_SESSION_TTL", api.DefaultSessionTTL, "how long a portal session (cookie) lasts after sign-in")
	f.secret(&sc.InbankAPIKey, "inbank-api-key", "INBANK_API_KEY", "", "Inbank API key, to verify callbacks (empty: no payment sessions)")
	logs.register(f, "json")
	if err := f.parse(args); err != nil {
		return err
	}
	limits, err := httpf.limits()
	if err != nil {
		return err
	}
	if reportLimit <= 0 || uploadTime <= 0 {
		return usageErr("--max-report-bytes and --upload-timeout must be positive")
	}
	var refusals []error
	if sc.POSSecret != "" {
		if portalSecret == "" {
			refusals = append(refusals, usageErr("--portal-secret (or EPCFLOW_PORTAL_SECRET) is required with the Delivery Room endpoints (POS_SIGNING_SECRET is set): it derives the portal's invitation links; make one with: openssl rand -base64 32"))
		} else if sc.PortalSecret, err = portal.ParseSecret(portalSecret); err != nil {
			refusals = append(refusals, usageErr("--portal-secret (EPCFLOW_PORTAL_SECRET): %v", err))
		}
	}
	if token == "" && !allowOpen {
		refusals = append(refusals, usageErr("--operator-token (or EPCFLOW_OPERATOR_TOKEN) is required: it guards the operator and read endpoints under /v1 (schedule, deliver, order state); for a local test, --allow-open-operator-endpoints serves them open"))
	}
	if codecKeys.keys != "" && codecToken == "" && !codecOpen {
		refusals = append(refusals, usageErr("--codec-token (or EPCFLOW_CODEC_TOKEN) is required to serve /codec, which decrypts payloads for whoever calls it; on one machine with no proxy, --allow-codec-without-token serves it to loopback clients only"))
	}
	if err := sandboxed.check(webhookKeysRule(&keys), posSecretRule(&sc.POSSecret), inbankKeyRule(&sc.InbankAPIKey)); err != nil {
		refusals = append(refusals, err)
	}
	if err := sweep.check(); err != nil {
		refusals = append(refusals, err)
	}
	if err := joinRefusals(refusals); err != nil {
		return err
	}
	if dedupAge <= 0 || dedupKeys <= 0 {
		return usageErr("--dedup-retention %s and --dedup-max-keys %d: both must be positive", dedupAge, dedupKeys)
	}
	log, err := logs.logger(e.stderr)
	if err != nil {
		return err
	}
	v, err := epc.NewVerifier(splitList(keys)...)
	if err != nil {
		return usageErr("--webhook-signing-keys: %v", err)
	}
	words, err := loadVocabulary(vocabPath, log)
	if err != nil {
		return err
	}
	sc.POSScheme = words.POSScheme()
	store, err := blob.open(ctx, log)
	if err != nil {
		return err
	}
	sweep.start(ctx, store, log)
	tr, err := startTracing(ctx, e, "epcflow-api", log)
	if err != nil {
		return err
	}
	defer tr.stop()
	c, m, ring, err := tf.connect(ctx, log, &codecKeys, tr.temporal)
	if err != nil {
		return err
	}
	defer c.Close()
	var codecHandler http.Handler
	if ring != nil {
		if codecToken == "" {
			log.Warn("codec server without a token: /codec answers loopback clients only; set EPCFLOW_CODEC_TOKEN")
		}
		codecHandler = codec.Handler(ring, codec.HandlerOptions{Token: codecToken, AllowedOrigins: splitList(codecOrigins)})
	}
	if dedupAge < 8*time.Hour {
		log.Warn("--dedup-retention is shorter than ICE's retries (about 8h): a late retry of a delivered webhook reaches its workflow's history", "retention", dedupAge)
	}
	if dedupDSN == "" {
		dedupDSN = portalDSN
	}
	dd, err := dedup.Open(ctx, dedupDSN, dedup.Options{MaxAge: dedupAge, MaxKeys: dedupKeys, Logger: log})
	if err != nil {
		return err
	}
	defer dd.Close()
	sc.Temporal, sc.Tracer = c, tr.provider()
	if sc.POSSecret != "" {
		if sc.Portal, err = portal.Open(ctx, portalDSN); err != nil {
			return err
		}
		defer sc.Portal.Close()
	}
	delivery, payments, err := stack.SessionRoutes(sc)
	if err != nil {
		return err
	}
	console, err := cons.config(c, ring, tf.namespace, sc.PublicURL)
	if err != nil {
		return err
	}
	engine := starter.New(c)
	h, err := api.New(api.Config{
		Engine: engine, Verifier: v, Vocabulary: words, Blobs: store, Logger: log, Metrics: m, Ready: engine.CheckHealth, OperatorToken: token,
		Codec: codecHandler, Delivery: delivery, Payments: payments, Dedup: dd, MaxReportBytes: int64(reportLimit), UploadTimeout: uploadTime,
		Console: console, Tracer: tr.provider(),
	})
	if err != nil {
		return err
	}
	stop, err := serve(listen, h, limits, log)
	if err != nil {
		return err
	}
	log.Info("api listening", "listen", listen, "temporal", tf.address)
	<-ctx.Done()
	stop()
	return nil
}

func runSandbox(ctx context.Context, e *env, args []string) error {
	f := newFlags(e, "sandbox")
	var (
		listen, partnerURL, publicURL, clientID, secret, key, stateFile string
		tokenLife, retry                                                time.Duration
		logs                                                            logging
		httpf                                                           httpFlags
		acceptBasic                                                     bool
		vocabPath                                                       string
	)
	vocabularyFlag(f, &vocabPath)
	f.str(&listen, "listen", "SANDBOX_LISTEN", "127.0.0.1:8090", "address to serve the sandbox on")
	f.str(&partnerURL, "partner-url", "SANDBOX_PARTNER_URL", sandbox.DefaultPartnerURL, "the partner's base URL; webhooks go to <partner-url>/webhooks/epc (several, comma-separated: API replicas that webhooks are spread over, as a load balancer would [ours])")
	f.str(&publicURL, "public-url", "SANDBOX_PUBLIC_URL", "", "the sandbox's own base URL as the partner reaches it (default http://<listen>)")
	f.str(&clientID, "client-id", "SANDBOX_CLIENT_ID", sandbox.DefaultClientID, "OAuth2 client id the sandbox accepts")
	f.secret(&secret, "client-secret", "SANDBOX_CLIENT_SECRET", sandbox.DefaultClientSecret, "OAuth2 client secret the sandbox accepts")
	f.boolEnv(&acceptBasic, "oauth-accept-basic", "SANDBOX_OAUTH_ACCEPT_BASIC", "also accept the OAuth client id and secret by HTTP Basic at the token endpoint (by default only as the form fields client_id and client_secret, with scope=pc pcapi, as ICE's samples send them)")
	f.secret(&key, "signing-key", "SANDBOX_SIGNING_KEY", sandbox.DefaultSigningKey, "webhook signing key of the default product")
	var posSecret, inbankKey string
	f.secret(&posSecret, "pos-signing-secret", "SANDBOX_POS_SIGNING_SECRET", sandbox.DefaultPOSSigningSecret, "POS Framework signing secret the sandbox signs and verifies with (the api's POS_SIGNING_SECRET)")
	f.secret(&inbankKey, "inbank-api-key", "SANDBOX_INBANK_API_KEY", sandbox.DefaultInbankAPIKey, "API key of the Inbank sandbox shop "+sandbox.DefaultInbankShopUUID+" (the worker's and api's INBANK_API_KEY)")
	f.duration(&tokenLife, "token-lifetime", "", sandbox.DefaultTokenLifetime, "lifetime of issued access tokens")
	f.duration(&retry, "webhook-retry-interval", "", sandbox.DefaultWebhookRetryInterval, "interval between webhook delivery tries")
	f.str(&stateFile, "state-file", "SANDBOX_STATE_FILE", "", "file the sandbox keeps its state in across restarts, file bytes in <file>.media/ (empty: in memory only)")
	httpf.register(f, "SANDBOX_")
	logs.register(f, "text")
	if err := f.parse(args); err != nil {
		return err
	}
	limits, err := httpf.limits()
	if err != nil {
		return err
	}
	log, err := logs.logger(e.stderr)
	if err != nil {
		return err
	}
	words, err := loadVocabulary(vocabPath, log)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	if publicURL == "" {
		publicURL = "http://" + ln.Addr().String()
	}
	sb, err := sandbox.New(sandbox.Config{
		PartnerURL: firstReplica(partnerURL), PartnerURLs: partnerReplicas(partnerURL), PublicURL: publicURL, ClientID: clientID, ClientSecret: secret, SigningKey: key, OAuthAcceptBasic: acceptBasic, Vocabulary: words,
		TokenLifetime: tokenLife, WebhookRetryInterval: retry, Logger: log, StateFile: stateFile,
		POSSigningSecret: posSecret, InbankShops: map[string]sandbox.InbankShop{sandbox.DefaultInbankShopUUID: {APIKey: inbankKey}},
	})
	if err != nil {
		ln.Close()
		return err
	}
	defer sb.Close()
	tr, err := startTracing(ctx, e, "epcflow-sandbox", log)
	if err != nil {
		return err
	}
	defer tr.stop()
	srv, err := httpserver.Serve(ln, traced.Handler(tr.provider(), sb.Handler(), "sandbox"), limits, log)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "EPC sandbox on %s (webhooks to %s/webhooks/epc)\n", publicURL, partnerURL)
	<-ctx.Done()
	return srv.Stop(5 * time.Second)
}
