package integration

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/epcflow/epcflow/accounts"
	"github.com/epcflow/epcflow/codec"
	"github.com/epcflow/epcflow/demo"
	"github.com/epcflow/epcflow/devserver"
	"github.com/epcflow/epcflow/epc"
	"github.com/epcflow/epcflow/internal/testkit"
	"github.com/epcflow/epcflow/portal"
	"github.com/epcflow/epcflow/pos"
	"github.com/epcflow/epcflow/sandbox"
	"github.com/epcflow/epcflow/stack"
	"github.com/epcflow/epcflow/workflows"
)

// Marker secrets: distinctive strings that must never show up in a log line or a history.
const (
	markerUser          = "marker-user-7f3a"
	markerPass          = "marker-pass-9c1e"
	markerWrongPass     = "marker-wrong-pass-4d5e"
	markerClientSecret  = "marker-client-secret-2b8d"
	markerSigningKey    = "marker-signing-key-5e6f"
	markerOperatorToken = "marker-operator-token-a1b2"
	markerCodecToken    = "marker-codec-token-c3d4"
	markerPortalSecret  = "marker-portal-secret-e5f6-0123456789abcdef"
)

// Positive controls: not secrets, and meant to be found, so a scan that finds nothing is known
// to look in the right places. The street is in activity results (payloads); the hiccup is
// the message of a local step's failure the workflow ran again as an activity.
const (
	controlStreet = "4430 Controlmarker Rd"
	// controlFlaky is the message the activity reports for a failing account store (it never
	// passes the store's own text on, which could echo credentials).
	controlFlaky = "account store unavailable: retrying"
)

// codecTestKeys is the test key file the encrypted histories were recorded with.
const codecTestKeys = "replay/testdata/codec-test-keys"

// TestNoSecretLeaks runs orders of every kind with marker credentials and secrets through the
// whole stack, then searches every log line (all components, at Debug), every field of
// every history event, payloads undecoded, and what Temporal stored (the SQLite files, or with
// EPCFLOW_TEST_TEMPORAL_DB every table of both PostgreSQL databases) for the markers and for
// the tokens the sandbox issued. With encryption off it proves the workflows never held a secret at all; with it on,
// that the server stores ciphertext only (search attributes aside, which the server must read).
func TestNoSecretLeaks(t *testing.T) {
	needsTemporal(t)
	t.Run("encryption off", func(t *testing.T) { runSecretsScenario(t, nil) })
	t.Run("encryption on", func(t *testing.T) {
		keys, err := codec.ParseKeys(string(testkit.Fixture(t, codecTestKeys)))
		require.NoError(t, err)
		runSecretsScenario(t, keys)
	})
}

func runSecretsScenario(t *testing.T, keys *codec.Keyring) {
	ctx := ctxFor(t, 2*time.Minute)
	logs := &testkit.Logs{}
	log := logs.JSON()

	// Our own sandbox, behind a recorder of the access tokens and upload authorizations it hands out.
	apiAddr := freeAddr(t)
	sbCfg := sandbox.Config{ClientSecret: markerClientSecret, SigningKey: markerSigningKey}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	sbURL := "http://" + ln.Addr().String()
	sb, err := sandbox.New(sandbox.Config{
		PartnerURL: "http://" + apiAddr, PublicURL: sbURL, ClientSecret: markerClientSecret, SigningKey: markerSigningKey,
		WebhookRetryInterval: 200 * time.Millisecond, Logger: log.With("component", "sandbox"),
	})
	require.NoError(t, err)
	issued := &issuedSecrets{}
	srv := &http.Server{Handler: issued.record(sb.Handler())}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close(); sb.Close() })

	store := &flakyStore{Store: accounts.NewStatic(map[string]string{markerUser: markerPass})}
	// A database file (or a PostgreSQL database), so what Temporal stored can be searched too.
	dataDir := t.TempDir()
	dbPath := filepath.Join(dataDir, "temporal.db")
	pgURL := freshTemporalDB(t)
	if pgURL != "" {
		dbPath = pgURL
	}
	cfg := stack.Config{
		DataDir: dataDir, DBPath: dbPath,
		APIListen: apiAddr, SandboxURL: sbURL, Sandbox: sbCfg, OperatorToken: markerOperatorToken,
		Accounts: store, CodecKeys: keys, Logger: log, TemporalLogLevel: slog.LevelDebug,
		// The intake runs local first and retries in the worker: a budget shorter than its
		// first backoff gets the hiccup into the history (the local step's failure marker).
		LocalStepBudget: 200 * time.Millisecond,
	}
	cfg.PortalSecret, err = portal.NewSecret(markerPortalSecret)
	require.NoError(t, err)
	if keys != nil {
		cfg.CodecToken = markerCodecToken
		cfg.UIPort = freePort(t) // the UI too, to check it is pointed at the codec server
	}
	e := startStack(t, cfg)

	order := func(typ, loan string, creds map[string]any) string {
		req := demo.SampleOrder(typ, loan, controlStreet)
		req.Credentials = creds
		o := e.place(ctx, req)
		return o.ID
	}
	good := map[string]any{"username": markerUser, "password": markerPass}
	flood := order(workflows.TypeFloodCertification, "LN-SECRET-FLOOD", good)
	appraisal := order(workflows.TypeAppraisal, "LN-SECRET-APPR", good)
	invalid := order(workflows.TypeFloodCertification, "LN-SECRET-BAD", map[string]any{"username": markerUser, "password": markerWrongPass})
	canceled := order(workflows.TypeAppraisal, "LN-SECRET-CANCEL", good)

	require.NoError(t, demo.Appraise(ctx, e.operator, appraisal, time.Millisecond, time.Millisecond, 455000))
	_, err = e.operator.WaitStage(ctx, canceled, workflows.StageAwaitSchedule)
	require.NoError(t, err)
	require.NoError(t, e.lender.Cancel(ctx, canceled, "borrower withdrew"))

	want := map[string]string{flood: epc.StatusCompleted, appraisal: epc.StatusCompleted, invalid: epc.StatusFailed, canceled: epc.StatusCanceled}
	names := map[string]string{flood: "flood-completed", appraisal: "appraisal-completed", invalid: "invalid-credentials", canceled: "appraisal-canceled"}
	for id, status := range want {
		require.Equal(t, status, e.await(ctx, id).ResponseStatus, "order %s", names[id])
	}
	require.GreaterOrEqual(t, store.calls.Load(), int32(2), "the account store failed once and was asked again")
	sessionSecrets := runHostedSessions(ctx, t, e, sbURL)

	// Every field of every history event, raw as the server stores it.
	var scans []*historyScan
	// The hosted sessions' workflows too: every other execution of the namespace.
	var others []string
	for _, wf := range e.otherExecutions(ctx, names) {
		others = append(others, wf.GetWorkflowId())
		scans = append(scans, scanHistory(wf.GetWorkflowId(), e.historyOf(ctx, wf.GetWorkflowId(), wf.GetRunId())))
	}
	require.Len(t, others, 2, "the package and the payment session workflows: %v", others)
	slices.Sort(others)
	require.True(t, strings.HasPrefix(others[0], "payment-session-") && strings.HasPrefix(others[1], "pos-package-"), "%v", others)
	for id, name := range names {
		h := e.history(ctx, id)
		scans = append(scans, scanHistory(name, h))
		if keys != nil && updateHistories {
			saveEncryptedHistory(t, name, h)
		}
		if keys != nil && id == flood {
			input := h.Events[0].GetWorkflowExecutionStartedEventAttributes().GetInput().GetPayloads()
			require.NotEmpty(t, input)
			checkCodecServing(t, ctx, e, input[0], flood)
		}
	}
	require.NoError(t, e.st.Close()) // so the logs are complete
	srv.Close()
	sb.Close()

	secrets := map[string]string{
		"lender username": markerUser, "lender password": markerPass, "wrong password": markerWrongPass,
		"EPC client secret": markerClientSecret, "webhook signing key": markerSigningKey,
		"operator token": markerOperatorToken, "codec token": markerCodecToken, "portal secret": markerPortalSecret,
	}
	for name, v := range sessionSecrets {
		secrets[name] = v
	}
	tokens, auths := issued.snapshot()
	require.NotEmpty(t, tokens, "the sandbox issued access tokens")
	require.NotEmpty(t, auths, "the sandbox issued upload authorizations")
	for i, tok := range tokens {
		secrets[fmt.Sprintf("access token #%d", i+1)] = tok
	}
	for i, a := range auths {
		secrets[fmt.Sprintf("upload authorization #%d", i+1)] = a
	}
	if keys != nil {
		for _, line := range strings.Split(string(testkit.Fixture(t, codecTestKeys)), "\n") {
			if _, k, ok := strings.Cut(line, ":"); ok && !strings.HasPrefix(line, "#") {
				secrets["codec key (base64)"] = strings.TrimSpace(k)
				raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(k))
				require.NoError(t, err)
				secrets["codec key (raw)"] = string(raw)
			}
		}
	}

	var hits []string
	logText := logs.String()
	require.Contains(t, logText, `"component":"temporal-server"`, "the Temporal server's own logs are captured")
	require.Contains(t, logText, `"level":"DEBUG"`)
	for name, s := range secrets {
		for _, line := range strings.Split(logText, "\n") {
			if strings.Contains(line, s) {
				hits = append(hits, fmt.Sprintf("%s in log line: %s", name, truncateLine(line, s)))
			}
		}
	}
	sawControl := map[string]bool{}
	// What Temporal stored: the database files as it left them on disk (history blobs,
	// visibility, WAL), or every table of its PostgreSQL databases.
	var stored []storedData
	if pgURL != "" {
		stored = postgresTables(ctx, t, pgURL)
	} else {
		dbFiles, err := filepath.Glob(filepath.Join(dataDir, "temporal.db*"))
		require.NoError(t, err)
		for _, f := range dbFiles {
			b, err := os.ReadFile(f)
			require.NoError(t, err)
			stored = append(stored, storedData{"the database file " + filepath.Base(f), b})
		}
	}
	require.NotEmpty(t, stored)
	// The portal's database too (SQLite in the data directory, whatever Temporal's is).
	portalFiles, err := filepath.Glob(filepath.Join(dataDir, "portal.db*"))
	require.NoError(t, err)
	require.NotEmpty(t, portalFiles)
	var portalData []byte
	for _, f := range portalFiles {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		portalData = append(portalData, b...)
		stored = append(stored, storedData{"the portal database file " + filepath.Base(f), b})
	}
	require.True(t, bytes.Contains(portalData, []byte(controlRecipient)), "control: the recipient's e-mail is not in the portal database: is the search blind?")
	for _, d := range stored {
		for name, s := range secrets {
			if bytes.Contains(d.data, []byte(s)) {
				hits = append(hits, fmt.Sprintf("%s in %s", name, d.where))
			}
		}
		if bytes.Contains(d.data, []byte(controlStreet)) {
			sawControl["db:"+controlStreet] = true
		}
	}
	if keys == nil {
		require.True(t, sawControl["db:"+controlStreet], "control: the street address is not in the clear database: is the search blind?")
	} else {
		require.False(t, sawControl["db:"+controlStreet], "the street address is in clear in the database of an encrypted run")
	}

	var dc *codec.Codec
	if keys != nil {
		dc = codec.New(keys)
	}
	for _, sc := range scans {
		for _, f := range sc.fields {
			for name, s := range secrets {
				if bytes.Contains(f.value, []byte(s)) {
					hits = append(hits, fmt.Sprintf("%s in history %s", name, f.path))
				}
			}
			for _, c := range []string{controlStreet, controlFlaky} {
				if bytes.Contains(f.value, []byte(c)) {
					sawControl[c] = true
					if keys != nil {
						hits = append(hits, fmt.Sprintf("clear text %q in the encrypted history %s", c, f.path))
					}
				}
			}
		}
		for _, p := range sc.payloads {
			enc := string(p.payload.GetMetadata()[converter.MetadataEncoding])
			if keys == nil || strings.Contains(p.path, ".search_attributes.") {
				continue // search attributes are indexed by the server: never encoded
			}
			if enc != codec.Encoding {
				hits = append(hits, fmt.Sprintf("payload with encoding %q in the encrypted history %s", enc, p.path))
				continue
			}
			// Decrypted, the payloads hold no secret either (the encryption-off run shows the same).
			dec, err := dc.Decode([]*commonpb.Payload{p.payload})
			require.NoError(t, err, p.path)
			for name, s := range secrets {
				if bytes.Contains(dec[0].GetData(), []byte(s)) {
					hits = append(hits, fmt.Sprintf("%s in decrypted payload %s", name, p.path))
				}
			}
			for _, c := range []string{controlStreet, controlFlaky} {
				if bytes.Contains(dec[0].GetData(), []byte(c)) {
					sawControl[c] = true
				}
			}
		}
	}
	nFields, nPayloads := 0, 0
	for _, sc := range scans {
		nFields, nPayloads = nFields+len(sc.fields), nPayloads+len(sc.payloads)
	}
	t.Logf("searched %d secrets in %d log lines and in %d history fields (%d payloads) of %d workflows",
		len(secrets), strings.Count(logText, "\n"), nFields, nPayloads, len(scans))
	require.Empty(t, hits, "secrets leaked:\n%s", strings.Join(hits, "\n"))
	require.True(t, sawControl[controlStreet], "control: the street address was not found in the payloads: is the scan blind?")
	require.True(t, sawControl[controlFlaky], "control: the retried failure's message was not found: is the scan blind?")
}

// storedData is what Temporal stored in one place, raw.
type storedData struct {
	where string
	data  []byte
}

// postgresTables reads every table of the two databases of a PostgreSQL store, each row's
// values as the server sends them (bytea, such as history blobs and payloads, as raw bytes).
func postgresTables(ctx context.Context, t *testing.T, dbURL string) []storedData {
	t.Helper()
	u, err := url.Parse(dbURL)
	require.NoError(t, err)
	var out []storedData
	for _, suffix := range []string{"", devserver.VisibilitySuffix} {
		db := *u
		db.Path += suffix
		conn, err := pgx.Connect(ctx, db.String())
		require.NoError(t, err)
		rows, err := conn.Query(ctx, "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()")
		require.NoError(t, err)
		tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
		require.NoError(t, err)
		require.NotEmpty(t, tables)
		for _, table := range tables {
			rows, err := conn.Query(ctx, "SELECT * FROM "+pgx.Identifier{table}.Sanitize())
			require.NoError(t, err)
			var data []byte
			for rows.Next() {
				for _, v := range rows.RawValues() {
					data = append(append(data, v...), 0)
				}
			}
			require.NoError(t, rows.Err())
			out = append(out, storedData{fmt.Sprintf("the PostgreSQL table %s.%s", strings.TrimPrefix(db.Path, "/"), table), data})
		}
		require.NoError(t, conn.Close(ctx))
	}
	return out
}

// checkCodecServing checks what an operator relies on to read encrypted payloads: the UI is
// pointed at the API's codec server, which answers the UI's origin with the codec token only,
// and decodes a history payload (the workflow input, which names the transaction).
func checkCodecServing(t *testing.T, ctx context.Context, e *env, payload *commonpb.Payload, txID string) {
	uiURL := e.st.Server.UIURL()
	require.NotEmpty(t, uiURL)
	var settings struct{ Codec struct{ Endpoint string } }
	getJSON(t, ctx, uiURL+"/api/v1/settings", &settings)
	require.Equal(t, e.st.APIURL+"/codec", settings.Codec.Endpoint)

	require.Equal(t, codec.Encoding, string(payload.GetMetadata()[converter.MetadataEncoding]))
	body, err := json.Marshal(map[string]any{"payloads": []map[string]any{{"metadata": payload.Metadata, "data": payload.Data}}})
	require.NoError(t, err)
	post := func(token string) (int, string, http.Header) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, settings.Codec.Endpoint+"/decode", bytes.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Origin", uiURL)
		req.Header.Set("X-Namespace", "default")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), resp.Header
	}
	status, _, _ := post("")
	require.Equal(t, http.StatusUnauthorized, status)
	status, out, h := post(markerCodecToken)
	require.Equal(t, http.StatusOK, status, out)
	require.Equal(t, uiURL, h.Get("Access-Control-Allow-Origin"))
	var decoded struct {
		Payloads []struct {
			Metadata map[string][]byte `json:"metadata"`
			Data     []byte            `json:"data"`
		} `json:"payloads"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &decoded), out)
	require.Len(t, decoded.Payloads, 1)
	require.Equal(t, "json/plain", string(decoded.Payloads[0].Metadata[converter.MetadataEncoding]))
	require.Contains(t, string(decoded.Payloads[0].Data), `"transactionId":"`+txID+`"`)
}

func getJSON(t *testing.T, ctx context.Context, url string, out any) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.NoError(t, json.NewDecoder(resp.Body).Decode(out))
}

func (e *env) history(ctx context.Context, txID string) *historypb.History {
	e.t.Helper()
	return e.historyOf(ctx, workflows.TransactionWorkflowID(txID), "")
}

// otherExecutions lists the namespace's executions other than the transactions named.
func (e *env) otherExecutions(ctx context.Context, txs map[string]string) []*commonpb.WorkflowExecution {
	e.t.Helper()
	var out []*commonpb.WorkflowExecution
	var token []byte
	for {
		resp, err := e.st.Client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{NextPageToken: token})
		require.NoError(e.t, err)
		for _, x := range resp.GetExecutions() {
			id := x.GetExecution().GetWorkflowId()
			if _, ok := txs[strings.TrimPrefix(id, workflows.TransactionWorkflowID(""))]; !ok {
				out = append(out, x.GetExecution())
			}
		}
		if token = resp.GetNextPageToken(); len(token) == 0 {
			return out
		}
	}
}

// saveEncryptedHistory records an encrypted history (test key in replay/testdata) for the
// replay package's test: EPCFLOW_UPDATE_HISTORIES=1 go test ./integration/ -run NoSecretLeaks
func saveEncryptedHistory(t *testing.T, name string, h *historypb.History) {
	writeHistory(t, filepath.Join("..", "replay", "testdata", "encrypted"), name, h)
}

// historyScan is every string and bytes field of a history, and every payload, with its path.
type historyScan struct {
	fields   []scannedField
	payloads []scannedPayload
}

type scannedField struct {
	path  string
	value []byte
}

type scannedPayload struct {
	path    string
	payload *commonpb.Payload
}

func scanHistory(name string, h *historypb.History) *historyScan {
	sc := &historyScan{}
	for _, ev := range h.Events {
		sc.message(ev.ProtoReflect(), fmt.Sprintf("%s event %d (%s)", name, ev.EventId, ev.EventType))
	}
	return sc
}

// message walks m with protoreflect: nothing is left out, whatever the event type.
func (sc *historyScan) message(m protoreflect.Message, path string) {
	if p, ok := m.Interface().(*commonpb.Payload); ok {
		sc.payloads = append(sc.payloads, scannedPayload{path, p})
	}
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		p := path + "." + string(fd.Name())
		switch {
		case fd.IsList():
			for i, l := 0, v.List(); i < l.Len(); i++ {
				sc.value(fd, l.Get(i), fmt.Sprintf("%s[%d]", p, i))
			}
		case fd.IsMap():
			v.Map().Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
				sc.fields = append(sc.fields, scannedField{p + " (key)", []byte(k.String())})
				sc.value(fd.MapValue(), mv, p+"."+k.String())
				return true
			})
		default:
			sc.value(fd, v, p)
		}
		return true
	})
}

func (sc *historyScan) value(fd protoreflect.FieldDescriptor, v protoreflect.Value, path string) {
	switch fd.Kind() {
	case protoreflect.MessageKind, protoreflect.GroupKind:
		sc.message(v.Message(), path)
	case protoreflect.StringKind:
		sc.fields = append(sc.fields, scannedField{path, []byte(v.String())})
	case protoreflect.BytesKind:
		sc.fields = append(sc.fields, scannedField{path, v.Bytes()})
	}
}

// issuedSecrets records the access tokens and upload authorizations the sandbox hands out.
type issuedSecrets struct {
	mu            sync.Mutex
	tokens, auths []string
}

var (
	accessTokenRE = regexp.MustCompile(`"access_token"\s*:\s*"([^"]+)"`)
	uploadAuthRE  = regexp.MustCompile(`elli-signature ([0-9A-Fa-f]{16,})`)
)

func (s *issuedSecrets) record(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tw := &teeWriter{ResponseWriter: w}
		h.ServeHTTP(tw, r)
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, m := range accessTokenRE.FindAllSubmatch(tw.body.Bytes(), -1) {
			s.tokens = append(s.tokens, string(m[1]))
		}
		for _, m := range uploadAuthRE.FindAllSubmatch(tw.body.Bytes(), -1) {
			s.auths = append(s.auths, string(m[1]))
		}
	})
}

func (s *issuedSecrets) snapshot() (tokens, auths []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.tokens...), append([]string(nil), s.auths...)
}

// teeWriter keeps a copy of a small JSON response (uploads are requests, not responses).
type teeWriter struct {
	http.ResponseWriter
	body bytes.Buffer
}

func (t *teeWriter) Write(b []byte) (int, error) {
	if strings.Contains(t.Header().Get("Content-Type"), "json") && t.body.Len() < 1<<20 {
		t.body.Write(b)
	}
	return t.ResponseWriter.Write(b)
}

// flakyStore fails its first call with a retryable error, so the history holds a failure
// message (the next attempt's last_failure) for the scan to find, or not find when encrypted.
type flakyStore struct {
	accounts.Store
	calls atomic.Int32
}

func (f *flakyStore) Verify(ctx context.Context, username, password string) error {
	if f.calls.Add(1) == 1 {
		return errors.New("account-store-hiccup: try again")
	}
	return f.Store.Verify(ctx, username, password)
}

// truncateLine shows where in a long log line a secret sits.
func truncateLine(line, secret string) string {
	i := strings.Index(line, secret)
	from, to := max(0, i-150), min(len(line), i+len(secret)+150)
	return line[from:to]
}

func freePort(t *testing.T) int {
	_, port, err := net.SplitHostPort(freeAddr(t))
	require.NoError(t, err)
	var n int
	_, err = fmt.Sscan(port, &n)
	require.NoError(t, err)
	return n
}

// controlRecipient is the package recipient's e-mail: the portal database must hold it (a
// positive control for the scan of that database).
const controlRecipient = "donald@example.com"

// runHostedSessions runs a Delivery Room package, opened by its recipient through the portal,
// and an Inbank payment session paid by the customer, and returns the secrets they involve:
// the POS signing secret, the Inbank API key, the portal invite token (and its MAC alone),
// the portal session cookie and the one-time Delivery Room URL.
func runHostedSessions(ctx context.Context, t *testing.T, e *env, sbURL string) map[string]string {
	t.Helper()
	out := map[string]string{
		"POS signing secret": sandbox.DefaultPOSSigningSecret,
		"Inbank API key":     sandbox.DefaultInbankAPIKey,
	}
	body := `{"instanceId":"BE11172718","groupNamespace":"loans","groupId":"bd751bb3-0c26-407a-8846-8219bdda01a9","packageId":"pkg-secrets-1",
	  "recipients":[{"recipientId":"r1","firstName":"Donald","lastName":"Duck","email":"` + controlRecipient + `","role":"borrower"}]}`
	var created sandbox.PackageReply
	postJSON(t, ctx, sbURL+"/sandbox/pos/packages", body, &created)
	require.Equal(t, http.StatusOK, created.Partner.Status)
	var answer pos.PackageAnswer
	require.NoError(t, json.Unmarshal(created.Partner.Body, &answer))
	require.Len(t, answer.Recipients, 1)
	portalURL := answer.Recipients[0].PortalURL
	u, err := url.Parse(portalURL)
	require.NoError(t, err)
	invite := u.Query().Get("token")
	require.NotEmpty(t, invite, "the portal link carries an invite token: %s", portalURL)
	out["portal invite token"] = invite
	_, mac, ok := strings.Cut(invite, ".")
	require.True(t, ok, "an invitation token is pi_<id>.<MAC>: %s", invite)
	out["portal invite MAC"] = mac

	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, portalURL, nil)
	resp, err := browser.Do(req)
	require.NoError(t, err)
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, string(page))
	require.Contains(t, resp.Request.URL.Path, "/deliveryroom/")
	out["Delivery Room session URL"] = resp.Request.URL.String()
	portalPath, _ := url.Parse(e.st.APIURL + "/portal/")
	cookies := jar.Cookies(portalPath)
	require.NotEmpty(t, cookies, "the portal set its session cookie")
	for _, c := range cookies {
		require.NotEqual(t, invite, c.Value, "the cookie is a session of its own, not the invitation")
		out["portal cookie "+c.Name] = c.Value
	}

	req, _ = http.NewRequestWithContext(ctx, http.MethodPost, e.st.APIURL+"/v1/payment-sessions", bytes.NewReader(paymentBody(t, nil)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+markerOperatorToken)
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusCreated, resp.StatusCode, string(b))
	var session struct {
		ID             string `json:"id"`
		POSSessionUUID string `json:"posSessionUuid"`
	}
	require.NoError(t, json.Unmarshal(b, &session))
	postJSON(t, ctx, sbURL+"/sandbox/inbank/sessions/"+session.POSSessionUUID+"/complete", `{"callbacks":{"copies":2}}`, nil)
	var final struct {
		Status string `json:"status"`
	}
	require.NoError(t, e.st.Client.GetWorkflow(ctx, "payment-session-"+session.ID, "").Get(ctx, &final))
	require.Equal(t, "completed", final.Status)
	return out
}
