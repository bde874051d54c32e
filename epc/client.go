package epc

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
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
	redacted         = "[redacted]"
)

// Config configures a Client.
type Config struct {
	// BaseURL of the platform, e.g. https://api.elliemae.com (a path prefix is kept).
	BaseURL      string
	ClientID     string
	ClientSecret string
	// AuthStyle is how the id and secret reach the token endpoint: AuthForm (the default,
	// as ICE's samples send them) or AuthBasic (as the curl example of ICE's docs does).
	AuthStyle AuthStyle
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
	secret string // only to redact it from what the platform sends back
	grant  *clientcredentials.Config
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
	base, style, err := cfg.check()
	if err != nil {
		return nil, err
	}
	c := &Client{
		base:        base,
		secret:      cfg.ClientSecret,
		grant:       newGrant(base, cfg.ClientID, cfg.ClientSecret, style),
		hc:          cfg.HTTPClient,
		log:         cfg.Logger,
		leeway:      cmp.Or(cfg.TokenLeeway, DefaultTokenLeeway),
		ua:          cmp.Or(cfg.UserAgent, DefaultUserAgent),
		now:         time.Now,
		readRetries: max(cmp.Or(cfg.ReadRetries, DefaultReadRetries), 0),
		readBackoff: cmp.Or(cfg.ReadRetryBackoff, DefaultReadRetryBackoff),
	}
	if c.hc == nil {
		c.hc = &http.Client{Timeout: DefaultHTTPTimeout}
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	return c, nil
}

// check lists every problem of cfg at once, naming fields, never values; it returns the
// normalised base URL and the library's auth style.
func (cfg Config) check() (string, oauth2.AuthStyle, error) {
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
	style, err := cfg.AuthStyle.oauth2Style()
	if err != nil {
		problems = append(problems, "AuthStyle: "+err.Error())
	}
	if cfg.TokenLeeway < 0 {
		problems = append(problems, "TokenLeeway: must not be negative")
	}
	if cfg.ReadRetryBackoff < 0 {
		problems = append(problems, "ReadRetryBackoff: must not be negative")
	}
	if len(problems) > 0 {
		return "", 0, fmt.Errorf("epc: invalid config: %s", strings.Join(problems, "; "))
	}
	return base, style, nil
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
