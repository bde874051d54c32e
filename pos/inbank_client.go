package pos

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	pause "github.com/epcflow/epcflow/internal/wait"

	"github.com/google/uuid"

	"github.com/epcflow/epcflow/schemas"
)

// Sentinels matched by errors.Is on an *InbankError, by HTTP status. They are worded
// generically so that every client of this package can share them.
var (
	ErrBadRequest   = errors.New("pos: request rejected (400)")
	ErrUnauthorized = errors.New("pos: unauthorized (401)")
	ErrForbidden    = errors.New("pos: forbidden (403)")
	ErrNotFound     = errors.New("pos: not found (404)")
	ErrInternal     = errors.New("pos: server error (5xx)")
)

// InbankError is a non-2xx reply of the Inbank API. Message is the reply's "message", as
// documented: "unauthorized", "not_found", "internal_server_error", "User is not
// authorized…". Problems lists a 400's details when the server gave them.
type InbankError struct {
	Op       string // "create session", "get session"
	Status   int
	Message  string
	Problems []schemas.Problem
}

func (e *InbankError) Error() string {
	msg := e.Message
	if msg == "" {
		msg = http.StatusText(e.Status)
	}
	return withProblems(fmt.Sprintf("pos: inbank %s: %d %s", e.Op, e.Status, msg), e.Problems)
}

// Is matches the sentinel of e's status.
func (e *InbankError) Is(target error) bool {
	switch target {
	case ErrBadRequest:
		return e.Status == http.StatusBadRequest
	case ErrUnauthorized:
		return e.Status == http.StatusUnauthorized
	case ErrForbidden:
		return e.Status == http.StatusForbidden
	case ErrNotFound:
		return e.Status == http.StatusNotFound
	case ErrInternal:
		return e.Status >= 500
	}
	return false
}

// Temporary reports whether trying again later may succeed (5xx, 429).
func (e *InbankError) Temporary() bool {
	return e.Status >= 500 || e.Status == http.StatusTooManyRequests
}

// ErrInvalidArgument is wrapped by errors about the client's own arguments (shop or session
// UUID, configuration), found before any call.
var ErrInvalidArgument = errors.New("pos: invalid argument")

// InbankClient calls Inbank's Partner API v3. APIKey is a secret: it is sent only in the
// Authorization header and never appears in logs or errors (String and LogValue hide it).
type InbankClient struct {
	// BaseURL is the API root, without /partner/v3, e.g. the sandbox's URL.
	BaseURL string
	APIKey  string
	// HTTP sends the calls; nil means a client with InbankHTTPTimeout.
	HTTP *http.Client
	// Logger gets one debug line per call (method, path, status, duration); nil discards.
	Logger *slog.Logger
	// ReadBackoff is the first wait before a failed GetSession is tried again (default
	// 100ms, doubling): a read that fails with a network error, a 5xx or a 429 is tried
	// inbankReadTries times in all. The create is never repeated here (see CreateSession).
	ReadBackoff time.Duration
}

const inbankReadTries = 4

// InbankHTTPTimeout bounds one Inbank call when InbankClient.HTTP is nil.
const InbankHTTPTimeout = 30 * time.Second

// String hides the API key.
func (c InbankClient) String() string {
	return fmt.Sprintf("pos.InbankClient{BaseURL: %q, APIKey: %s}", c.BaseURL, inbankRedacted(c.APIKey))
}

// GoString hides the API key from %#v.
func (c InbankClient) GoString() string { return c.String() }

// LogValue hides the API key from slog.
func (c InbankClient) LogValue() slog.Value {
	return slog.GroupValue(slog.String("baseURL", c.BaseURL), slog.String("apiKey", inbankRedacted(c.APIKey)))
}

func inbankRedacted(secret string) string {
	if secret == "" {
		return "(unset)"
	}
	return "(inbankRedacted)"
}

// IsUUID reports whether s is a UUID in its 36-character text form (any version, either
// case); the other forms uuid.Parse takes (braces, urn:uuid:, no hyphens) are not ids here.
func IsUUID(s string) bool { return len(s) == 36 && uuid.Validate(s) == nil }

// CreateSession creates a POS session for the shop. The body is validated first
// (ValidateSessionRequest): an invalid one is never sent, and the error is a
// *schemas.ValidationError listing every problem with its JSON pointer. A reply other than
// 201 is an *InbankError (errors.Is: ErrUnauthorized, ErrForbidden, ErrNotFound, ErrInternal…).
// The call is not idempotent: each success is a new session.
func (c *InbankClient) CreateSession(ctx context.Context, shopUUID string, req InbankSessionRequest) (InbankSessionCreated, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return InbankSessionCreated{}, fmt.Errorf("pos: inbank create session: encode body: %w", err)
	}
	return c.CreateSessionJSON(ctx, shopUUID, body)
}

// CreateSessionJSON is CreateSession for a body already encoded, sent as is once valid.
func (c *InbankClient) CreateSessionJSON(ctx context.Context, shopUUID string, body []byte) (InbankSessionCreated, error) {
	const op = "create session"
	var out InbankSessionCreated
	if err := c.check(op, shopUUID); err != nil {
		return out, err
	}
	if err := ValidateSessionRequest(body); err != nil {
		return out, err
	}
	status, reply, err := c.do(ctx, op, http.MethodPost, sessionsPath(shopUUID), body)
	if err != nil {
		return out, err
	}
	if status != http.StatusCreated && status != http.StatusOK {
		return out, inbankReplyError(op, status, reply)
	}
	if err := json.Unmarshal(reply, &out); err != nil {
		return out, fmt.Errorf("pos: inbank %s: decode %d reply: %w", op, status, err)
	}
	switch {
	case !IsUUID(out.UUID):
		return out, fmt.Errorf("pos: inbank %s: reply has no session uuid", op)
	case out.RedirectURL == "":
		return out, fmt.Errorf("pos: inbank %s: reply has no redirectUrl", op)
	}
	return out, nil
}

// GetSession reads a POS session: the source of truth a callback only hints at.
func (c *InbankClient) GetSession(ctx context.Context, shopUUID, sessionUUID string) (InbankSession, error) {
	const op = "get session"
	var out InbankSession
	if err := c.check(op, shopUUID); err != nil {
		return out, err
	}
	if !IsUUID(sessionUUID) {
		return out, fmt.Errorf("pos: inbank %s: %w: session uuid must be a UUID", op, ErrInvalidArgument)
	}
	status, reply, err := c.read(ctx, op, sessionsPath(shopUUID, sessionUUID))
	if err != nil {
		return out, err
	}
	if status != http.StatusOK {
		return out, inbankReplyError(op, status, reply)
	}
	if err := json.Unmarshal(reply, &out); err != nil {
		return out, fmt.Errorf("pos: inbank %s: decode reply: %w", op, err)
	}
	if !strings.EqualFold(out.UUID, sessionUUID) {
		return out, fmt.Errorf("pos: inbank %s: reply is about another session", op)
	}
	if out.Status == "" {
		return out, fmt.Errorf("pos: inbank %s: reply has no status", op)
	}
	return out, nil
}

// check validates the client's configuration and the shop UUID; errors never echo the key.
func (c *InbankClient) check(op, shopUUID string) error {
	var missing []string
	if p := httpURLProblem(c.BaseURL); p != "" {
		missing = append(missing, "BaseURL "+p)
	}
	if c.APIKey == "" {
		missing = append(missing, "APIKey required")
	}
	if !IsUUID(shopUUID) {
		missing = append(missing, "shop uuid must be a UUID")
	}
	if len(missing) > 0 {
		return fmt.Errorf("pos: inbank %s: %w: %s", op, ErrInvalidArgument, strings.Join(missing, "; "))
	}
	return nil
}

// sessionsPath is /partner/v3/shops/{shop}/pos-sessions[/{session}], escaped.
func sessionsPath(shopUUID string, sessionUUID ...string) string {
	p := "/partner/v3/shops/" + url.PathEscape(shopUUID) + "/pos-sessions"
	for _, s := range sessionUUID {
		p += "/" + url.PathEscape(s)
	}
	return p
}

// read is do for a GET, tried again after a failure that may pass (network error, 5xx,
// 429): inbankReadTries times in all, waiting ReadBackoff, doubling up to 2 s.
func (c *InbankClient) read(ctx context.Context, op, path string) (int, []byte, error) {
	wait := c.ReadBackoff
	if wait <= 0 {
		wait = 100 * time.Millisecond
	}
	for try := 1; ; try++ {
		status, reply, err := c.do(ctx, op, http.MethodGet, path, nil)
		passing := err != nil || status >= 500 || status == http.StatusTooManyRequests
		if !passing || try == inbankReadTries || ctx.Err() != nil {
			return status, reply, err
		}
		_ = pause.For(ctx, wait) // an ended context ends the loop above
		wait = min(wait*2, 2*time.Second)
	}
}

// do sends one call and returns the status and (bounded) body.
func (c *InbankClient) do(ctx context.Context, op, method, path string, body []byte) (int, []byte, error) {
	hc := c.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: InbankHTTPTimeout} // shares http.DefaultTransport's pool
	}
	s := sender{hc: hc, log: c.Logger, msg: "inbank call"}
	status, reply, err := s.send(ctx, call{
		method: method, url: strings.TrimRight(c.BaseURL, "/") + path, path: path, body: body,
		header: http.Header{"Authorization": {"Bearer " + c.APIKey}},
	})
	if err != nil {
		return status, nil, fmt.Errorf("pos: inbank %s: %w", op, err)
	}
	return status, reply, nil
}

// inbankReplyError decodes an error reply {"message", "details"?}; a body that is not that shape
// leaves Message empty (the status text stands in).
func inbankReplyError(op string, status int, reply []byte) *InbankError {
	e := &InbankError{Op: op, Status: status}
	var body struct {
		Message string            `json:"message"`
		Details []schemas.Problem `json:"details"`
	}
	if json.Unmarshal(reply, &body) == nil {
		e.Message = excerpt(body.Message, 200)
		e.Problems = body.Details
	}
	return e
}
