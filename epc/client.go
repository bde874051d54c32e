package epc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"
)

// MaxResponseBytes bounds every reply body the client reads.
const MaxResponseBytes = 32 << 20

// maxErrorBody bounds how much of an error reply is read for its message.
const maxErrorBody = 64 << 10

// Defaults applied by NewClient.
const (
	DefaultTokenLeeway = 60 * time.Second
	DefaultUserAgent   = "epcflow-epc/1"
	// DefaultHTTPTimeout bounds a whole exchange when Config.HTTPClient is nil.
	DefaultHTTPTimeout = 2 * time.Minute
	// DefaultReadRetries and DefaultReadRetryBackoff: see Config.ReadRetries.
	DefaultReadRetries      = 3
	DefaultReadRetryBackoff = 100 * time.Millisecond
	// maxReadRetryWait is the longest a read waits in the client before trying again; a
	// longer Retry-After returns the error, for the caller (a Temporal retry) to wait it out.
	maxReadRetryWait = 5 * time.Second
	// tokenFetchTimeout bounds a token refresh, which runs detached from any one caller.
	tokenFetchTimeout = 30 * time.Second
	// defaultTokenLifetime is the documented 2 h, assumed when a reply omits expires_in.
	defaultTokenLifetime = 7200 * time.Second
)

const (
	tokenPath        = "/oauth2/v1/token"
	transactionsPath = "/partner/v2/transactions/"
	tokenScope       = "pc pcapi"
	redacted         = "[redacted]"
)

// Config configures a Client.
type Config struct {
	// BaseURL of the platform, e.g. https://api.elliemae.com (a path prefix is kept).
	BaseURL      string
	ClientID     string
	ClientSecret string
	// HTTPClient sends every request; nil means a client with DefaultHTTPTimeout.
	HTTPClient *http.Client
	// Logger receives one debug line per exchange; nil discards.
	Logger *slog.Logger
	// TokenLeeway: refresh the access token this long before it expires; 0 means 60 s.
	TokenLeeway time.Duration
	// UserAgent sent on every request; empty means DefaultUserAgent.
	UserAgent string
	// ReadRetries is how many more times a GET is tried after a failure that may pass (5xx,
	// 429, network error); 0 means DefaultReadRetries, negative means none. The wait starts
	// at ReadRetryBackoff (0: DefaultReadRetryBackoff), doubles, and honours Retry-After.
	// Writes are never repeated here: their reply may be lost after the platform acted, so
	// callers read before they write again.
	ReadRetries      int
	ReadRetryBackoff time.Duration
}

// Client calls the EPC Partner API v2. It is safe for concurrent use; it caches one access
// token and refreshes it with at most one token request in flight.
type Client struct {
	base   string // scheme://host[/prefix], no trailing slash
	id     string
	secret string
	hc     *http.Client
	log    *slog.Logger
	leeway time.Duration
	ua     string

	readRetries int
	readBackoff time.Duration

	now    func() time.Time // replaced by tests to move time
	onJoin func()           // test hook: a caller started waiting for a refresh

	mu        sync.Mutex
	token     string
	refreshAt time.Time
	flight    *tokenFlight
}

// tokenFlight is one token request in progress; done is closed when tok/err are set.
type tokenFlight struct {
	done chan struct{}
	tok  string
	err  error
}

// NewClient validates cfg and returns a Client. It makes no request.
func NewClient(cfg Config) (*Client, error) {
	var problems []string
	base, err := parseBaseURL(cfg.BaseURL)
	if err != nil {
		problems = append(problems, "BaseURL: "+err.Error())
	}
	if strings.TrimSpace(cfg.ClientID) == "" {
		problems = append(problems, "ClientID: required")
	}
	if cfg.ClientSecret == "" {
		problems = append(problems, "ClientSecret: required")
	}
	if cfg.TokenLeeway < 0 {
		problems = append(problems, "TokenLeeway: must not be negative")
	}
	if cfg.ReadRetryBackoff < 0 {
		problems = append(problems, "ReadRetryBackoff: must not be negative")
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("epc: invalid config: %s", strings.Join(problems, "; "))
	}
	c := &Client{
		base:   base,
		id:     cfg.ClientID,
		secret: cfg.ClientSecret,
		hc:     cfg.HTTPClient,
		log:    cfg.Logger,
		leeway: cfg.TokenLeeway,
		ua:     cfg.UserAgent,
		now:    time.Now,

		readRetries: cfg.ReadRetries,
		readBackoff: cfg.ReadRetryBackoff,
	}
	switch {
	case c.readRetries == 0:
		c.readRetries = DefaultReadRetries
	case c.readRetries < 0:
		c.readRetries = 0
	}
	if c.readBackoff == 0 {
		c.readBackoff = DefaultReadRetryBackoff
	}
	if c.hc == nil {
		c.hc = &http.Client{Timeout: DefaultHTTPTimeout}
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.leeway == 0 {
		c.leeway = DefaultTokenLeeway
	}
	if c.ua == "" {
		c.ua = DefaultUserAgent
	}
	return c, nil
}

// parseBaseURL accepts an absolute http(s) URL without credentials, query or fragment. Its
// errors never echo the value, which could hold credentials.
func parseBaseURL(raw string) (string, error) {
	if strings.TrimSpace(raw) == "" {
		return "", errors.New("required")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", errors.New("not a valid URL")
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return "", errors.New("scheme must be http or https")
	case u.Host == "":
		return "", errors.New("host required")
	case u.User != nil:
		return "", errors.New("must not contain user info")
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return "", errors.New("must not contain a query or fragment")
	}
	return strings.TrimRight(u.String(), "/"), nil
}

// GetTransaction reads GET /partner/v2/transactions/{id}.
func (c *Client) GetTransaction(ctx context.Context, id string) (*Transaction, error) {
	p, err := txPath(id)
	if err != nil {
		return nil, err
	}
	var tx Transaction
	if err := c.callJSON(ctx, http.MethodGet, p, nil, &tx); err != nil {
		return nil, err
	}
	return &tx, nil
}

// GetRequest reads GET /partner/v2/transactions/{id}/request.
func (c *Client) GetRequest(ctx context.Context, id string) (*Request, error) {
	p, err := txPath(id, "request")
	if err != nil {
		return nil, err
	}
	var r Request
	if err := c.callJSON(ctx, http.MethodGet, p, nil, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// ListRequestResources reads the lender's attachments:
// GET /partner/v2/transactions/{id}/request/resources.
func (c *Client) ListRequestResources(ctx context.Context, id string) ([]Resource, error) {
	p, err := txPath(id, "request", "resources")
	if err != nil {
		return nil, err
	}
	var rs []Resource
	if err := c.callJSON(ctx, http.MethodGet, p, nil, &rs); err != nil {
		return nil, err
	}
	return rs, nil
}

// PatchResponse sends PATCH /partner/v2/transactions/{id}/response. Any 2xx is success.
func (c *Client) PatchResponse(ctx context.Context, id string, resp *Response) error {
	if resp == nil {
		return errors.New("epc: PatchResponse: nil response")
	}
	p, err := txPath(id, "response")
	if err != nil {
		return err
	}
	_, err = c.call(ctx, http.MethodPatch, p, resp)
	return err
}

// ListEvents reads GET /partner/v2/transactions/{id}/events.
func (c *Client) ListEvents(ctx context.Context, id string) ([]Event, error) {
	p, err := txPath(id, "events")
	if err != nil {
		return nil, err
	}
	var evs []Event
	if err := c.callJSON(ctx, http.MethodGet, p, nil, &evs); err != nil {
		return nil, err
	}
	return evs, nil
}

// GetEvent reads GET /partner/v2/transactions/{id}/events/{eventID}.
func (c *Client) GetEvent(ctx context.Context, id, eventID string) (*Event, error) {
	p, err := txPath(id, "events", eventID)
	if err != nil {
		return nil, err
	}
	var ev Event
	if err := c.callJSON(ctx, http.MethodGet, p, nil, &ev); err != nil {
		return nil, err
	}
	return &ev, nil
}

// CreateEvent sends POST /partner/v2/transactions/{id}/events and returns the stored event.
// [ours] the reply is 201 with the event; should a platform reply without a body, the event
// is rebuilt from the input and the id taken from the Location header, so that a created
// event is never reported as a failure (a retry would post it twice).
func (c *Client) CreateEvent(ctx context.Context, id string, ev NewEvent) (*Event, error) {
	if ev.Type == "" {
		return nil, errors.New("epc: CreateEvent: type: required")
	}
	p, err := txPath(id, "events")
	if err != nil {
		return nil, err
	}
	rep, err := c.call(ctx, http.MethodPost, p, ev)
	if err != nil {
		return nil, err
	}
	if len(bytes.TrimSpace(rep.body)) == 0 {
		out := &Event{Text: ev.Text, Type: ev.Type, Comments: ev.Comments, Resources: ev.Resources}
		if loc := rep.header.Get("Location"); loc != "" {
			if u, err := url.Parse(loc); err == nil {
				out.ID = path.Base(u.Path)
			}
		}
		return out, nil
	}
	var stored Event
	if err := decodeReply(http.MethodPost, p, rep.body, &stored); err != nil {
		return nil, err
	}
	return &stored, nil
}

// CreateResources asks for upload slots: POST /partner/v2/transactions/{id}/response/resources
// → [{id, name, mimeType, location, authorization}], one per requested resource.
func (c *Client) CreateResources(ctx context.Context, id string, rs []NewResource) ([]Resource, error) {
	if len(rs) == 0 {
		return nil, errors.New("epc: CreateResources: at least one resource required")
	}
	var problems []string
	for i, r := range rs {
		if r.Name == "" {
			problems = append(problems, fmt.Sprintf("/%d/name: required", i))
		}
		if r.MimeType == "" {
			problems = append(problems, fmt.Sprintf("/%d/mimeType: required", i))
		}
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("epc: CreateResources: %s", strings.Join(problems, "; "))
	}
	p, err := txPath(id, "response", "resources")
	if err != nil {
		return nil, err
	}
	var slots []Resource
	if err := c.callJSON(ctx, http.MethodPost, p, rs, &slots); err != nil {
		return nil, err
	}
	return slots, nil
}

// UploadBytes PUTs a file's bytes to an upload slot from CreateResources, with the slot's own
// authorization (sent as is, not as a bearer token) and content type. size is the body
// length, or -1 when unknown. The platform's access token is never sent to the slot.
func (c *Client) UploadBytes(ctx context.Context, slot Resource, body io.Reader, size int64) error {
	u, err := url.Parse(slot.Location)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New("epc: UploadBytes: slot location must be an absolute http(s) URL")
	}
	if slot.Authorization == "" {
		return errors.New("epc: UploadBytes: slot authorization: required")
	}
	if slot.MimeType == "" {
		return errors.New("epc: UploadBytes: slot mimeType: required")
	}
	if body == nil {
		body = http.NoBody
	}
	logPath := u.EscapedPath() // the query is a signed grant: never logged
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, slot.Location, body)
	if err != nil {
		return fmt.Errorf("epc: PUT %s: build request: %w", logPath, sanitizeURLError(err))
	}
	if size >= 0 {
		req.ContentLength = size
		if size == 0 {
			req.Body = http.NoBody
		}
	}
	req.Header.Set("Authorization", slot.Authorization)
	req.Header.Set("Content-Type", slot.MimeType)
	req.Header.Set("User-Agent", c.ua)
	rep, err := c.exchange(ctx, req, logPath)
	if err != nil {
		return err
	}
	if !is2xx(rep.status) {
		return c.apiError(http.MethodPut, logPath, rep)
	}
	return nil
}

// UploadResource creates one upload slot and PUTs data to it, returning the resource as it is
// listed in a later PatchResponse (id, name, mimeType; no location or authorization). The
// attach step is the caller's, since that PATCH carries the whole intended response.
func (c *Client) UploadResource(ctx context.Context, id, name, mimeType string, data []byte) (Resource, error) {
	slots, err := c.CreateResources(ctx, id, []NewResource{{Name: name, MimeType: mimeType}})
	if err != nil {
		return Resource{}, err
	}
	if len(slots) != 1 {
		return Resource{}, fmt.Errorf("epc: UploadResource: platform returned %d upload slots, want 1", len(slots))
	}
	slot := slots[0]
	if slot.ID == "" {
		return Resource{}, errors.New("epc: UploadResource: upload slot has no id")
	}
	if slot.Name == "" {
		slot.Name = name
	}
	if slot.MimeType == "" {
		slot.MimeType = mimeType
	}
	if err := c.UploadBytes(ctx, slot, bytes.NewReader(data), int64(len(data))); err != nil {
		return Resource{}, err
	}
	return Resource{ID: slot.ID, Name: slot.Name, MimeType: slot.MimeType}, nil
}

// txPath builds /partner/v2/transactions/{id}/{segs...} with every variable segment escaped.
func txPath(id string, segs ...string) (string, error) {
	if err := checkSegment("transaction id", id); err != nil {
		return "", err
	}
	var b strings.Builder
	b.WriteString(transactionsPath)
	b.WriteString(url.PathEscape(id))
	for _, s := range segs {
		if err := checkSegment("path segment", s); err != nil {
			return "", err
		}
		b.WriteByte('/')
		b.WriteString(url.PathEscape(s))
	}
	return b.String(), nil
}

// checkSegment refuses empty ids and dot segments, which PathEscape leaves as they are and a
// server would resolve to another resource.
func checkSegment(what, s string) error {
	switch s {
	case "":
		return fmt.Errorf("epc: %s: required", what)
	case ".", "..":
		return fmt.Errorf("epc: %s: must not be %q", what, s)
	}
	return nil
}

// reply is a completed exchange: any status, bounded body.
type reply struct {
	status int
	header http.Header
	body   []byte
}

// callJSON is call plus decoding a required JSON reply body into out.
func (c *Client) callJSON(ctx context.Context, method, p string, in, out any) error {
	rep, err := c.call(ctx, method, p, in)
	if err != nil {
		return err
	}
	return decodeReply(method, p, rep.body, out)
}

func decodeReply(method, p string, body []byte, out any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return fmt.Errorf("epc: %s %s: empty response body", method, p)
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("epc: %s %s: decode response: %w", method, p, err)
	}
	return nil
}

// call is callOnce, with a GET tried again after a failure that may pass (see
// Config.ReadRetries). Under a 30% error rate an activity that reads three times would
// otherwise fail two attempts in three and wait out Temporal's growing retry intervals.
func (c *Client) call(ctx context.Context, method, p string, in any) (*reply, error) {
	wait := c.readBackoff
	for try := 0; ; try++ {
		rep, err := c.callOnce(ctx, method, p, in)
		if err == nil || method != http.MethodGet || try >= c.readRetries || !IsRetryable(err) || ctx.Err() != nil {
			return rep, err
		}
		d := max(wait, RetryAfter(err))
		if d > maxReadRetryWait {
			return nil, err
		}
		c.log.DebugContext(ctx, "epc read failed, trying again", slog.String("path", p), slog.Duration("wait", d), slog.Int("try", try+1), slog.Any("error", err))
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, err
		case <-t.C:
		}
		wait *= 2
	}
}

// callOnce sends an authenticated Partner API request and returns a 2xx reply. On a 401 it
// drops the token, fetches a new one and tries once more; a second 401 is surfaced as final.
func (c *Client) callOnce(ctx context.Context, method, p string, in any) (*reply, error) {
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return nil, fmt.Errorf("epc: %s %s: encode request: %w", method, p, err)
		}
	}
	for attempt := 1; ; attempt++ {
		tok, err := c.accessToken(ctx)
		if err != nil {
			return nil, fmt.Errorf("epc: %s %s: access token: %w", method, p, err)
		}
		var rd io.Reader
		if body != nil {
			rd = bytes.NewReader(body)
		}
		req, err := http.NewRequestWithContext(ctx, method, c.base+p, rd)
		if err != nil {
			return nil, fmt.Errorf("epc: %s %s: build request: %w", method, p, sanitizeURLError(err))
		}
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Accept", "application/json")
		req.Header.Set("User-Agent", c.ua)
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		rep, err := c.exchange(ctx, req, p)
		if err != nil {
			return nil, err
		}
		if rep.status == http.StatusUnauthorized && attempt == 1 {
			c.invalidate(tok)
			continue
		}
		if !is2xx(rep.status) {
			return nil, c.apiError(method, p, rep, tok)
		}
		return rep, nil
	}
}

// exchange sends req, logs one line and reads the bounded reply. Transport failures become
// *APIError with Status 0.
func (c *Client) exchange(ctx context.Context, req *http.Request, logPath string) (*reply, error) {
	start := time.Now()
	resp, err := c.hc.Do(req)
	if err != nil {
		ae := c.transportError(ctx, req.Method, logPath, err)
		c.logExchange(ctx, req.Method, logPath, 0, time.Since(start), ae)
		return nil, ae
	}
	defer resp.Body.Close()
	limit := int64(MaxResponseBytes)
	if !is2xx(resp.StatusCode) {
		limit = maxErrorBody
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		ae := c.transportError(ctx, req.Method, logPath, err)
		c.logExchange(ctx, req.Method, logPath, resp.StatusCode, time.Since(start), ae)
		return nil, ae
	}
	c.logExchange(ctx, req.Method, logPath, resp.StatusCode, time.Since(start), nil)
	if int64(len(body)) > limit {
		if is2xx(resp.StatusCode) {
			return nil, fmt.Errorf("%w: %s %s: over %d bytes", ErrResponseTooLarge, req.Method, logPath, MaxResponseBytes)
		}
		body = body[:limit] // only read for its message
	}
	return &reply{status: resp.StatusCode, header: resp.Header, body: body}, nil
}

func (c *Client) logExchange(ctx context.Context, method, p string, status int, d time.Duration, err error) {
	attrs := []slog.Attr{
		slog.String("method", method),
		slog.String("path", p),
		slog.Int("status", status),
		slog.Duration("duration", d),
	}
	if err != nil {
		attrs = append(attrs, slog.String("error", err.Error()))
	}
	c.log.LogAttrs(ctx, slog.LevelDebug, "epc http", attrs...)
}

// transportError wraps a failed exchange. Refused, reset and timed-out exchanges are
// retryable, including a context deadline (the platform was slow); a canceled context is not:
// the caller gave up.
func (c *Client) transportError(ctx context.Context, method, p string, err error) *APIError {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return contextError(method, p, ctxErr)
	}
	return &APIError{Method: method, Path: p, Retryable: true, Err: c.redactErr(sanitizeURLError(err))}
}

func contextError(method, p string, err error) *APIError {
	return &APIError{Method: method, Path: p, Retryable: !errors.Is(err, context.Canceled), Err: err}
}

// sanitizeURLError drops the request URL from a *url.Error: an upload location's query is a
// signed grant.
func sanitizeURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// redactErr keeps err's identity for errors.Is/As, but not if its text would leak a secret.
func (c *Client) redactErr(err error) error {
	if s := err.Error(); s != c.redact(s) {
		return errors.New(c.redact(s))
	}
	return err
}

// apiError describes a non-2xx reply; also redacts the token that request used, which may no
// longer be the cached one.
func (c *Client) apiError(method, p string, rep *reply, usedToken ...string) *APIError {
	return &APIError{
		Method:     method,
		Path:       p,
		Status:     rep.status,
		Message:    c.redact(platformMessage(rep.body), usedToken...),
		RetryAfter: parseRetryAfter(rep.header.Get("Retry-After"), c.now()),
		Retryable:  retryableStatus(rep.status),
	}
}

// redact removes the client secret and the cached access token from text the platform sent
// back, in case a reply echoes them.
func (c *Client) redact(s string, more ...string) string {
	c.mu.Lock()
	tok := c.token
	c.mu.Unlock()
	for _, secret := range append([]string{c.secret, tok}, more...) {
		if secret != "" {
			s = strings.ReplaceAll(s, secret, redacted)
		}
	}
	return s
}

func is2xx(status int) bool { return status >= 200 && status < 300 }

// accessToken returns a cached token, or waits (bounded by ctx) for the one refresh in flight,
// starting it if needed. The refresh runs detached from ctx so that one caller giving up does
// not fail the others waiting on it.
func (c *Client) accessToken(ctx context.Context) (string, error) {
	c.mu.Lock()
	if c.token != "" && c.now().Before(c.refreshAt) {
		tok := c.token
		c.mu.Unlock()
		return tok, nil
	}
	f := c.flight
	joined := f != nil
	if f == nil {
		f = &tokenFlight{done: make(chan struct{})}
		c.flight = f
		go c.refresh(context.WithoutCancel(ctx), f)
	}
	c.mu.Unlock()
	if joined && c.onJoin != nil {
		c.onJoin()
	}
	select {
	case <-f.done:
		return f.tok, f.err
	case <-ctx.Done():
		return "", contextError(http.MethodPost, tokenPath, ctx.Err())
	}
}

func (c *Client) refresh(ctx context.Context, f *tokenFlight) {
	ctx, cancel := context.WithTimeout(ctx, tokenFetchTimeout)
	defer cancel()
	tok, refreshAt, err := c.fetchToken(ctx)
	c.mu.Lock()
	if err == nil {
		c.token, c.refreshAt = tok, refreshAt
	}
	c.flight = nil
	f.tok, f.err = tok, err
	c.mu.Unlock()
	close(f.done)
}

// invalidate drops tok if it is still the cached token (a concurrent caller may already have
// replaced it, and that newer token must not be thrown away).
func (c *Client) invalidate(tok string) {
	c.mu.Lock()
	if c.token == tok {
		c.token = ""
	}
	c.mu.Unlock()
}

// fetchToken performs the OAuth2 client-credentials grant and returns the token and when to
// refresh it.
func (c *Client) fetchToken(ctx context.Context) (string, time.Time, error) {
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {tokenScope}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+tokenPath, strings.NewReader(form.Encode()))
	if err != nil {
		return "", time.Time{}, fmt.Errorf("epc: POST %s: build request: %w", tokenPath, sanitizeURLError(err))
	}
	req.SetBasicAuth(c.id, c.secret)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.ua)
	issued := c.now() // before sending: the lifetime counts from the platform's clock
	rep, err := c.exchange(ctx, req, tokenPath)
	if err != nil {
		return "", time.Time{}, err
	}
	if !is2xx(rep.status) {
		return "", time.Time{}, c.apiError(http.MethodPost, tokenPath, rep)
	}
	var t Token
	if err := json.Unmarshal(rep.body, &t); err != nil {
		return "", time.Time{}, fmt.Errorf("epc: POST %s: decode token reply: %w", tokenPath, err)
	}
	if t.AccessToken == "" {
		return "", time.Time{}, fmt.Errorf("epc: POST %s: token reply has no access_token", tokenPath)
	}
	if t.TokenType != "" && !strings.EqualFold(t.TokenType, "bearer") {
		return "", time.Time{}, fmt.Errorf("epc: POST %s: unsupported token_type %s", tokenPath, strconv.Quote(t.TokenType))
	}
	return t.AccessToken, issued.Add(c.refreshAfter(t.ExpiresIn)), nil
}

// refreshAfter is how long a token with the given lifetime is used: its lifetime minus the
// leeway, or half its lifetime when the leeway would leave nothing.
func (c *Client) refreshAfter(expiresIn int) time.Duration {
	life := defaultTokenLifetime
	if expiresIn > 0 {
		life = time.Duration(expiresIn) * time.Second
	}
	if c.leeway >= life {
		return life / 2
	}
	return life - c.leeway
}
