package epc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/epcflow/epcflow/internal/testkit"
)

func TestClientMethods(t *testing.T) {
	txJSON := testkit.Fixture(t, "epc/testdata/transaction.json")
	const (
		id      = "tx 1/α" // escaped as one segment
		escID   = "tx%201%2F%CE%B1"
		txPaths = "/partner/v2/transactions/" + escID
	)
	tests := []struct {
		name     string
		reply    http.HandlerFunc
		call     func(context.Context, *Client) (any, error)
		method   string
		uri      string
		sentBody string // JSON, "" for none
		check    func(t *testing.T, got any)
	}{
		{
			name:   "GetTransaction",
			reply:  replyJSON(200, string(txJSON)),
			call:   func(ctx context.Context, c *Client) (any, error) { return c.GetTransaction(ctx, id) },
			method: "GET", uri: txPaths,
			check: func(t *testing.T, got any) {
				tx := got.(*Transaction)
				require.Equal(t, "0bf34a40-8ca1-4b58-8cbc-dd6b9f67dc63", tx.ID)
				require.Equal(t, "Appraisal", tx.Request.Type)
			},
		},
		{
			name:   "GetRequest",
			reply:  replyJSON(200, `{"type":"Appraisal","loanFormat":"application/vnd.plm-2.0.0+json","loan":{"loanNumber":"1911EM000412515"}}`),
			call:   func(ctx context.Context, c *Client) (any, error) { return c.GetRequest(ctx, id) },
			method: "GET", uri: txPaths + "/request",
			check: func(t *testing.T, got any) {
				r := got.(*Request)
				require.Equal(t, "Appraisal", r.Type)
				require.JSONEq(t, `{"loanNumber":"1911EM000412515"}`, string(r.Loan))
			},
		},
		{
			name:   "ListRequestResources",
			reply:  replyJSON(200, `[{"id":"r1","name":"Purchase Contract.pdf","mimeType":"application/pdf","url":"https://media.example/r1"}]`),
			call:   func(ctx context.Context, c *Client) (any, error) { return c.ListRequestResources(ctx, id) },
			method: "GET", uri: txPaths + "/request/resources",
			check: func(t *testing.T, got any) {
				require.Equal(t, []Resource{{ID: "r1", Name: "Purchase Contract.pdf", MimeType: "application/pdf", URL: "https://media.example/r1"}}, got)
			},
		},
		{
			name:  "PatchResponse 204",
			reply: func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) },
			call: func(ctx context.Context, c *Client) (any, error) {
				return nil, c.PatchResponse(ctx, id, &Response{Status: StatusProcessing, PartnerStatus: "Order received", ReferenceNumber: "REF-1"})
			},
			method: "PATCH", uri: txPaths + "/response",
			sentBody: `{"status":"processing","partnerStatus":"Order received","referenceNumber":"REF-1"}`,
		},
		{
			name:  "PatchResponse 200 with a body",
			reply: replyJSON(200, `{"status":"completed"}`),
			call: func(ctx context.Context, c *Client) (any, error) {
				return nil, c.PatchResponse(ctx, id, &Response{Status: StatusCompleted, Resources: []Resource{{ID: "r9", Name: "report.pdf", MimeType: "application/pdf"}}})
			},
			method: "PATCH", uri: txPaths + "/response",
			sentBody: `{"status":"completed","resources":[{"id":"r9","name":"report.pdf","mimeType":"application/pdf"}]}`,
		},
		{
			name:   "ListEvents",
			reply:  replyJSON(200, `[{"id":"e1","text":"Transaction Request Created","type":"urn:elli:epc:transaction:request:created","from":"System","sent":"2020-02-10T05:56:28Z"}]`),
			call:   func(ctx context.Context, c *Client) (any, error) { return c.ListEvents(ctx, id) },
			method: "GET", uri: txPaths + "/events",
			check: func(t *testing.T, got any) {
				evs := got.([]Event)
				require.Len(t, evs, 1)
				require.Equal(t, EventRequestCreated, evs[0].Type)
			},
		},
		{
			name:   "GetEvent",
			reply:  replyJSON(200, `{"id":"ev 1","text":"Canceled","type":"urn:elli:epc:transaction:request:canceled","from":"Lender"}`),
			call:   func(ctx context.Context, c *Client) (any, error) { return c.GetEvent(ctx, id, "ev 1") },
			method: "GET", uri: txPaths + "/events/ev%201",
			check: func(t *testing.T, got any) {
				require.Equal(t, "urn:elli:epc:transaction:request:canceled", got.(*Event).Type)
			},
		},
		{
			name:  "CreateEvent",
			reply: replyJSON(201, `{"id":"e7","text":"Inspection Scheduled","type":"urn:elli:epc:partner:appraisal:scheduled","from":"AAA Appraisers","sent":"2024-05-01T12:00:00Z","comments":"02/14 at 16:00"}`),
			call: func(ctx context.Context, c *Client) (any, error) {
				return c.CreateEvent(ctx, id, NewEvent{Text: "Inspection Scheduled", Type: "urn:elli:epc:partner:appraisal:scheduled", Comments: "02/14 at 16:00"})
			},
			method: "POST", uri: txPaths + "/events",
			sentBody: `{"text":"Inspection Scheduled","type":"urn:elli:epc:partner:appraisal:scheduled","comments":"02/14 at 16:00"}`,
			check: func(t *testing.T, got any) {
				ev := got.(*Event)
				require.Equal(t, "e7", ev.ID)
				require.Equal(t, "AAA Appraisers", ev.From)
				require.NotNil(t, ev.Sent)
			},
		},
		{
			name: "CreateEvent 201 without body",
			reply: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Location", "/partner/v2/transactions/"+escID+"/events/e8")
				w.WriteHeader(http.StatusCreated)
			},
			call: func(ctx context.Context, c *Client) (any, error) {
				return c.CreateEvent(ctx, id, NewEvent{Text: "Report uploaded", Type: "urn:elli:epc:partner:appraisal:uploaded"})
			},
			method: "POST", uri: txPaths + "/events",
			sentBody: `{"text":"Report uploaded","type":"urn:elli:epc:partner:appraisal:uploaded"}`,
			check: func(t *testing.T, got any) {
				require.Equal(t, &Event{ID: "e8", Text: "Report uploaded", Type: "urn:elli:epc:partner:appraisal:uploaded"}, got)
			},
		},
		{
			name:  "CreateResources",
			reply: replyJSON(201, `[{"id":"s1","name":"report.pdf","mimeType":"application/pdf","location":"https://media.example/v1/s1?validity=x","authorization":"elli-signature ABC"}]`),
			call: func(ctx context.Context, c *Client) (any, error) {
				return c.CreateResources(ctx, id, []NewResource{{Name: "report.pdf", MimeType: "application/pdf"}})
			},
			method: "POST", uri: txPaths + "/response/resources",
			sentBody: `[{"name":"report.pdf","mimeType":"application/pdf"}]`,
			check: func(t *testing.T, got any) {
				require.Equal(t, []Resource{{ID: "s1", Name: "report.pdf", MimeType: "application/pdf", Location: "https://media.example/v1/s1?validity=x", Authorization: "elli-signature ABC"}}, got)
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, tt.reply)
			c, _ := newTestClient(t, f.URL+"/")
			got, err := tt.call(testCtx(t), c)
			require.NoError(t, err)
			if tt.check != nil {
				tt.check(t, got)
			}
			calls := f.recorded()
			require.Len(t, calls, 1)
			rec := calls[0]
			require.Equal(t, tt.method, rec.Method)
			require.Equal(t, tt.uri, rec.URI)
			require.Equal(t, "Bearer "+tokenPrefix+"1", rec.Header.Get("Authorization"))
			require.Equal(t, "application/json", rec.Header.Get("Accept"))
			require.Equal(t, testUserAgent, rec.Header.Get("User-Agent"))
			if tt.sentBody == "" {
				require.Empty(t, rec.Body)
				require.Empty(t, rec.Header.Get("Content-Type"))
			} else {
				require.Equal(t, "application/json", rec.Header.Get("Content-Type"))
				require.JSONEq(t, tt.sentBody, string(rec.Body))
			}
		})
	}
}

func TestClientRefusesBadInputWithoutCalling(t *testing.T) {
	f := newFake(t, replyJSON(200, `{}`))
	c, _ := newTestClient(t, f.URL)
	ctx := testCtx(t)
	for name, call := range map[string]func() error{
		"empty id":        func() error { _, err := c.GetTransaction(ctx, ""); return err },
		"dot-dot id":      func() error { _, err := c.GetRequest(ctx, ".."); return err },
		"dot event id":    func() error { _, err := c.GetEvent(ctx, "tx", "."); return err },
		"nil response":    func() error { return c.PatchResponse(ctx, "tx", nil) },
		"event type":      func() error { _, err := c.CreateEvent(ctx, "tx", NewEvent{Text: "x"}); return err },
		"no resources":    func() error { _, err := c.CreateResources(ctx, "tx", nil); return err },
		"resource fields": func() error { _, err := c.CreateResources(ctx, "tx", []NewResource{{Name: "a"}}); return err },
		"relative slot": func() error {
			return c.UploadBytes(ctx, Resource{Location: "/x", Authorization: "a", MimeType: "b"}, nil, 0)
		},
		"slot without key": func() error { return c.UploadBytes(ctx, Resource{Location: f.URL, MimeType: "b"}, nil, 0) },
	} {
		err := call()
		require.Error(t, err, name)
		require.False(t, IsRetryable(err), name)
	}
	require.Zero(t, f.tokens())
	require.Empty(t, f.recorded())
}

func TestErrorClassification(t *testing.T) {
	inOneMinute := time.Now().Add(time.Minute).UTC().Format(http.TimeFormat)
	tests := []struct {
		name           string
		status         int
		retryAfter     string
		body           string
		wantRetryable  bool
		wantRetryAfter time.Duration
		wantMessage    string
	}{
		{"429 seconds", 429, "7", `{"message":"rate limit exceeded"}`, true, 7 * time.Second, "rate limit exceeded"},
		{"404", 404, "", `{"code":"EPC-404","summary":"Transaction not found","details":"no transaction tx-1"}`, false, 0, "Transaction not found: no transaction tx-1"},
		{"400 error object", 400, "", `{"error":{"message":"status: invalid"}}`, false, 0, "status: invalid"},
		{"409", 409, "", `{"message":"transaction is completed"}`, false, 0, "transaction is completed"},
		{"403 plain text", 403, "", "forbidden\r\nfake-log-line", false, 0, "forbidden fake-log-line"},
		{"500", 500, "", `oops`, true, 0, "oops"},
		{"502 empty", 502, "", ``, true, 0, ""},
		{"503 with date", 503, inOneMinute, `{"message":"maintenance"}`, true, time.Minute, "maintenance"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
				if tt.retryAfter != "" {
					w.Header().Set("Retry-After", tt.retryAfter)
				}
				replyJSON(tt.status, tt.body)(w, r)
			})
			c, _ := newTestClient(t, f.URL, func(c *Config) { c.ReadRetries = -1 })
			_, err := c.GetTransaction(testCtx(t), "tx-1")
			var ae *APIError
			require.ErrorAs(t, err, &ae)
			require.Equal(t, tt.status, ae.Status)
			require.Equal(t, tt.status, StatusOf(err))
			require.Equal(t, "GET", ae.Method)
			require.Equal(t, "/partner/v2/transactions/tx-1", ae.Path)
			require.Equal(t, tt.wantRetryable, IsRetryable(err))
			require.Equal(t, tt.wantRetryable, ae.Retryable)
			require.Equal(t, tt.wantMessage, ae.Message)
			if tt.wantRetryAfter > 0 {
				// An HTTP-date has one-second resolution.
				require.InDelta(t, tt.wantRetryAfter.Seconds(), RetryAfter(err).Seconds(), 1.5)
			} else {
				require.Zero(t, RetryAfter(err))
			}
			require.Contains(t, err.Error(), fmt.Sprintf("GET /partner/v2/transactions/tx-1: %d", tt.status))
			require.NotContains(t, err.Error(), "\n")
			require.Len(t, f.recorded(), 1, "with ReadRetries -1 the client itself retries only 401")
		})
	}
}

// TestReadRetries: a GET is tried again after a failure that may pass, a write never is, and
// a wait longer than the client will hold is left to the caller.
func TestReadRetries(t *testing.T) {
	fast := func(c *Config) { c.ReadRetryBackoff = time.Millisecond }
	tests := []struct {
		name      string
		replies   []int // statuses in turn; the last repeats
		retryAft  string
		call      func(ctx context.Context, c *Client) error
		wantCalls int
		wantErr   int // final status, 0 for success
	}{
		{"GET 503 then 200", []int{503, 503, 200}, "", getTx, 3, 0},
		{"GET 429 Retry-After 1s then 200", []int{429, 200}, "1", getTx, 2, 0},
		{"GET network-like 502 every time", []int{502}, "", getTx, 1 + DefaultReadRetries, 502},
		{"GET 429 Retry-After beyond the client's wait", []int{429, 200}, "30", getTx, 1, 429},
		{"GET 404 is final", []int{404, 200}, "", getTx, 1, 404},
		{"PATCH 503 is not repeated", []int{503, 200}, "", func(ctx context.Context, c *Client) error {
			return c.PatchResponse(ctx, "tx-1", &Response{PartnerStatus: "x"})
		}, 1, 503},
		{"POST event 502 is not repeated", []int{502, 201}, "", func(ctx context.Context, c *Client) error {
			_, err := c.CreateEvent(ctx, "tx-1", NewEvent{Type: "urn:x", Text: "t"})
			return err
		}, 1, 502},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var mu sync.Mutex
			n := 0
			f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				status := tt.replies[min(n, len(tt.replies)-1)]
				n++
				mu.Unlock()
				if status >= 400 && tt.retryAft != "" {
					w.Header().Set("Retry-After", tt.retryAft)
				}
				body := `{"id":"tx-1"}`
				if status >= 400 {
					body = `{"message":"try later"}`
				}
				replyJSON(status, body)(w, r)
			})
			c, _ := newTestClient(t, f.URL, fast)
			err := tt.call(testCtx(t), c)
			if tt.wantErr == 0 {
				require.NoError(t, err)
			} else {
				require.Equal(t, tt.wantErr, StatusOf(err), "error: %v", err)
			}
			require.Len(t, f.recorded(), tt.wantCalls)
		})
	}
}

func getTx(ctx context.Context, c *Client) error {
	_, err := c.GetTransaction(ctx, "tx-1")
	return err
}

func TestErrorHelpersThroughWrapping(t *testing.T) {
	base := &APIError{Method: "GET", Path: "/x", Status: 429, Retryable: true, RetryAfter: 7 * time.Second}
	wrapped := fmt.Errorf("activity: %w", fmt.Errorf("step: %w", base))
	require.True(t, IsRetryable(wrapped))
	require.Equal(t, 7*time.Second, RetryAfter(wrapped))
	require.Equal(t, 429, StatusOf(wrapped))
	require.Equal(t, "epc: GET /x: 429 Too Many Requests (retry after 7s)", base.Error())

	plain := errors.New("something else")
	require.False(t, IsRetryable(plain))
	require.Zero(t, RetryAfter(plain))
	require.Zero(t, StatusOf(plain))
	require.Zero(t, StatusOf(nil))
}

func TestNetworkErrorsAreRetryable(t *testing.T) {
	t.Run("server down", func(t *testing.T) {
		f := newFake(t, nil)
		f.Close()
		c, logs := newTestClient(t, f.URL)
		_, err := c.GetTransaction(testCtx(t), "tx-1")
		require.Error(t, err)
		require.True(t, IsRetryable(err))
		require.Zero(t, StatusOf(err))
		require.Contains(t, err.Error(), "POST /oauth2/v1/token: network error")
		require.Contains(t, logs.String(), "status=0")
	})
	t.Run("connection dropped mid-call", func(t *testing.T) {
		f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close()
			}
		})
		c, _ := newTestClient(t, f.URL)
		err := c.PatchResponse(testCtx(t), "tx-1", &Response{Status: StatusProcessing})
		var ae *APIError
		require.ErrorAs(t, err, &ae)
		require.True(t, ae.Retryable)
		require.Zero(t, ae.Status)
		require.Error(t, ae.Err)
		require.Contains(t, err.Error(), "PATCH /partner/v2/transactions/tx-1/response: network error")
	})

	// hang answers nothing until the client gives up, telling entered it got the call.
	hang := func(entered chan<- struct{}) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			entered <- struct{}{}
			<-r.Context().Done()
		}
	}
	t.Run("platform too slow for the caller's deadline", func(t *testing.T) {
		f := newFake(t, hang(make(chan struct{}, 10)))
		c, _ := newTestClient(t, f.URL)
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		_, err := c.GetTransaction(ctx, "tx-1")
		require.ErrorIs(t, err, context.DeadlineExceeded)
		require.True(t, IsRetryable(err))
		require.Zero(t, StatusOf(err))
	})
	t.Run("caller cancels", func(t *testing.T) {
		entered := make(chan struct{}, 10)
		f := newFake(t, hang(entered))
		c, _ := newTestClient(t, f.URL)
		ctx, cancel := context.WithCancel(testCtx(t))
		go func() {
			<-entered
			cancel()
		}()
		_, err := c.GetTransaction(ctx, "tx-1")
		require.ErrorIs(t, err, context.Canceled)
		require.False(t, IsRetryable(err))
		require.Contains(t, err.Error(), "GET /partner/v2/transactions/tx-1: request not completed: context canceled")
	})
}

func TestResponseTooLarge(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(200)
		chunk := bytes.Repeat([]byte(" "), 1<<20)
		for range MaxResponseBytes>>20 + 1 {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	})
	c, _ := newTestClient(t, f.URL)
	_, err := c.ListEvents(testCtx(t), "tx-1")
	require.ErrorIs(t, err, ErrResponseTooLarge)
	require.False(t, IsRetryable(err))
}

// TestSecretsNeverLeak drives successes and failures of every kind and checks that neither
// an error string nor a log line carries the client secret, an access token or an upload grant.
func TestSecretsNeverLeak(t *testing.T) {
	var errs []error
	var allLogs []string
	ctx := testCtx(t)

	// A platform that echoes the caller's credentials back in its errors.
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasSuffix(r.URL.Path, "/ok"):
			replyJSON(200, `{"id":"ok","status":"pending"}`)(w, r)
		case strings.HasSuffix(r.URL.Path, "/unauth"):
			replyJSON(401, `{"message":"bad token `+strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")+`"}`)(w, r)
		default:
			replyJSON(404, `{"message":"no such transaction for `+r.Header.Get("Authorization")+` / `+testSecret+`"}`)(w, r)
		}
	})
	c, logs := newTestClient(t, f.URL)
	_, err := c.GetTransaction(ctx, "ok")
	require.NoError(t, err)
	_, err = c.GetTransaction(ctx, "missing")
	var ae *APIError
	require.ErrorAs(t, err, &ae)
	require.Contains(t, ae.Message, redacted)
	errs = append(errs, err)
	_, err = c.GetTransaction(ctx, "unauth")
	require.Equal(t, 401, StatusOf(err))
	errs = append(errs, err)

	// A token endpoint that echoes the secret.
	bad := newFake(t, nil)
	bad.tokenReply = replyJSON(400, `{"error":"invalid_client","error_description":"secret `+testSecret+` is wrong"}`)
	c2, logs2 := newTestClient(t, bad.URL)
	_, err = c2.GetTransaction(ctx, "tx-1")
	require.Error(t, err)
	errs = append(errs, err)

	// A storage server that is down, with a signed grant in the location.
	down := newStorage(t)
	down.Close()
	err = c.UploadBytes(ctx, Resource{Location: down.URL + "/v1/x?validity=SIGNED-GRANT", Authorization: "elli-signature DEADBEEF", MimeType: "application/pdf"}, strings.NewReader("x"), 1)
	require.True(t, IsRetryable(err))
	errs = append(errs, err)

	allLogs = append(allLogs, logs.String(), logs2.String())
	texts := allLogs
	for _, e := range errs {
		texts = append(texts, e.Error(), fmt.Sprintf("%+v", e), fmt.Sprintf("%#v", e))
	}
	for _, s := range texts {
		for _, secret := range []string{testSecret, tokenPrefix, "SIGNED-GRANT", "DEADBEEF"} {
			require.NotContains(t, s, secret)
		}
	}

	// The log names method, path, status and duration for each exchange.
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	require.NotEmpty(t, lines)
	for _, l := range lines {
		for _, key := range []string{"level=DEBUG", "method=", "path=", "status=", "duration="} {
			require.Contains(t, l, key, l)
		}
	}
	require.Contains(t, logs.String(), "method=GET path=/partner/v2/transactions/ok status=200")
	require.Contains(t, logs.String(), "method=POST path=/oauth2/v1/token status=201")
}

func TestNewClientValidation(t *testing.T) {
	valid := Config{BaseURL: "https://api.elliemae.com", ClientID: "id", ClientSecret: testSecret}
	tests := []struct {
		name string
		edit func(*Config)
		want []string
	}{
		{"all missing", func(c *Config) { *c = Config{} }, []string{"BaseURL: required", "ClientID: required", "ClientSecret: required"}},
		{"relative URL", func(c *Config) { c.BaseURL = "api.elliemae.com" }, []string{"BaseURL: scheme must be http or https"}},
		{"ftp", func(c *Config) { c.BaseURL = "ftp://api.elliemae.com" }, []string{"BaseURL: scheme must be http or https"}},
		{"user info", func(c *Config) { c.BaseURL = "https://user:" + testSecret + "@api.elliemae.com" }, []string{"BaseURL: must not contain user info"}},
		{"query", func(c *Config) { c.BaseURL = "https://api.elliemae.com/?x=1" }, []string{"BaseURL: must not contain a query or fragment"}},
		{"negative leeway", func(c *Config) { c.TokenLeeway = -time.Second }, []string{"TokenLeeway: must not be negative"}},
		{"auth style", func(c *Config) { c.AuthStyle = "header" }, []string{"AuthStyle: must be form or basic"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := valid
			tt.edit(&cfg)
			_, err := NewClient(cfg)
			require.Error(t, err)
			for _, w := range tt.want {
				require.Contains(t, err.Error(), w)
			}
			require.NotContains(t, err.Error(), testSecret)
		})
	}
	c, err := NewClient(valid)
	require.NoError(t, err)
	require.Equal(t, DefaultTokenLeeway, c.leeway)
	require.Equal(t, DefaultUserAgent, c.ua)
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"7", 7 * time.Second},
		{" 120 ", 2 * time.Minute},
		{"0", 0},
		{"-3", 0},
		{"", 0},
		{"soon", 0},
		{"1.5", 0},
		{"Wed, 01 May 2024 12:00:30 GMT", 30 * time.Second},
		{"Wednesday, 01-May-24 12:01:00 GMT", time.Minute}, // RFC 850
		{"Wed May  1 12:00:10 2024", 10 * time.Second},     // ANSI C
		{"Wed, 01 May 2024 11:59:00 GMT", 0},               // past
		{"99999999999999999999", 0},                        // overflows int64
		{"9999999999", 365 * 24 * time.Hour},               // capped
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, parseRetryAfter(tt.in, now), "Retry-After %q", tt.in)
	}
}
