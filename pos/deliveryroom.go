package pos

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/epcflow/epcflow/internal/statusline"
)

// SessionsPath is where the POS Framework creates Delivery Room sessions.
const SessionsPath = "/pos/v1/sessions"

// SessionLifetime is how long a Delivery Room URL stays good, used once at most (seed 000).
const SessionLifetime = 30 * time.Second

// CreateSessionRequest is the CreateDeliveryRoom body. The platform documents its first five
// members only; UserID is [ours]: the partner's portal user who opens the session, to whom
// the platform binds the recipient on first success.
type CreateSessionRequest struct {
	InstanceID     string `json:"instanceId"`
	GroupNamespace string `json:"groupNamespace"` // Encompass uses "loans"
	GroupID        string `json:"groupId"`        // the loan GUID
	PackageID      string `json:"packageId"`
	RecipientID    string `json:"recipientId"`
	UserID         string `json:"userId"`
}

// createSessionMembers are the members a CreateDeliveryRoom body may have.
var createSessionMembers = []string{"instanceId", "groupNamespace", "groupId", "packageId", "recipientId", "userId"}

// Validate checks that every member is there (non-blank, bounded, printable); the error is a
// *schemas.ValidationError (Schema: CreateSessionDocument) with the body's JSON pointers.
func (r CreateSessionRequest) Validate() error { return checkDoc(CreateSessionDocument, r.check) }

func (r CreateSessionRequest) check(d *docCheck) {
	d.packageIDsValid(r.InstanceID, r.GroupNamespace, r.GroupID, r.PackageID)
	d.id("/recipientId", r.RecipientID)
	d.id("/userId", r.UserID)
}

// ParseCreateSessionRequest decodes and validates a CreateDeliveryRoom body, strictly: a
// member it does not know is a problem too (what the sandbox applies to what we send).
func ParseCreateSessionRequest(body []byte) (CreateSessionRequest, error) {
	return parseDoc(CreateSessionDocument, body, readCreateSession, CreateSessionRequest.check)
}

func readCreateSession(d *docCheck, obj map[string]json.RawMessage) CreateSessionRequest {
	var r CreateSessionRequest
	for _, k := range memberNames(obj) {
		if !slices.Contains(createSessionMembers, k) {
			d.add("/"+escapeToken(k), "unknown property (allowed: "+strings.Join(createSessionMembers, ", ")+")")
		}
	}
	d.packageIDs(obj, &r.InstanceID, &r.GroupNamespace, &r.GroupID, &r.PackageID)
	r.RecipientID = d.str(obj, "recipientId", "")
	r.UserID = d.str(obj, "userId", "")
	return r
}

// Session is a created Delivery Room session [ours: 201 {"sessionId","url","expiresAt"}].
//
// URL is a one-time secret good for SessionLifetime: redirect to it (or embed it) at once,
// never store or log it. String and LogValue leave it out.
type Session struct {
	SessionID string    `json:"sessionId"`
	URL       string    `json:"url"`
	ExpiresAt time.Time `json:"expiresAt"`
}

func (s Session) String() string {
	return "pos.Session{id:" + s.SessionID + " expiresAt:" + s.ExpiresAt.Format(time.RFC3339) + "}"
}

// GoString keeps %#v from printing the URL.
func (s Session) GoString() string { return s.String() }

// DeliveryRoomClient calls the POS Framework's Create a Session. Its fields are read on each
// call; set them before use and do not change them while calls are in flight.
type DeliveryRoomClient struct {
	// BaseURL is the POS Framework API root; the session endpoint is BaseURL+SessionsPath.
	BaseURL string
	// Signer signs every request.
	Signer *Signer
	// HTTPClient sends the requests; nil means http.DefaultClient.
	HTTPClient *http.Client
}

// APIError is a non-2xx reply of the POS Framework. Message is its explanation (the message
// of a JSON error body, or a short excerpt of another body); Code its error code when given.
// Neither ever holds a session URL: an error reply has none.
type APIError struct {
	Status  int
	Code    string
	Message string
}

func (e *APIError) Error() string {
	return "pos: create session: " + statusline.String(e.Status, e.Message)
}

// BadSignature: 401, the request's signature headers were refused (a configuration problem:
// environment, subscription id, signing key id or secret).
func (e *APIError) BadSignature() bool { return e.Status == http.StatusUnauthorized }

// Forbidden: 403, the recipient is not in the package or is bound to another user. Final.
func (e *APIError) Forbidden() bool { return e.Status == http.StatusForbidden }

// UnknownPackage: 404, no such package (under that instance and group).
func (e *APIError) UnknownPackage() bool { return e.Status == http.StatusNotFound }

// Used: 409, a one-time Delivery Room URL was already used (its page, not Create a Session).
func (e *APIError) Used() bool { return e.Status == http.StatusConflict }

// Expired: 410, a Delivery Room URL outlived SessionLifetime.
func (e *APIError) Expired() bool { return e.Status == http.StatusGone }

// Retryable: 429 and 5xx may succeed later; other statuses will not.
func (e *APIError) Retryable() bool {
	return e.Status == http.StatusTooManyRequests || e.Status >= 500
}

// CreateSession creates a Delivery Room session for req's recipient and user. Call it when
// the person is there to be redirected: the URL is good once, for SessionLifetime.
//
// Errors: a *schemas.ValidationError for a bad req (no call made), an *APIError for a non-2xx
// reply, a wrapped transport or decoding error otherwise. None contains the session URL.
func (c *DeliveryRoomClient) CreateSession(ctx context.Context, req CreateSessionRequest) (Session, error) {
	if c.Signer == nil {
		return Session{}, errors.New("pos: create session: no Signer configured")
	}
	if err := req.Validate(); err != nil {
		return Session{}, err
	}
	endpoint, err := c.endpoint()
	if err != nil {
		return Session{}, err
	}
	body, err := json.Marshal(req)
	if err != nil {
		return Session{}, fmt.Errorf("pos: create session: encode: %w", err)
	}
	hc := c.HTTPClient
	if hc == nil {
		hc = http.DefaultClient
	}
	status, reply, err := sender{hc: hc}.send(ctx, call{
		method: http.MethodPost, url: endpoint, path: SessionsPath, body: body, header: c.Signer.Header(body),
	})
	if err != nil {
		return Session{}, fmt.Errorf("pos: create session: %w", err)
	}
	if status < 200 || status > 299 {
		code, msg := drReplyError(reply)
		return Session{}, &APIError{Status: status, Code: code, Message: msg}
	}
	return decodeSession(status, reply)
}

// decodeSession reads a 2xx reply. It holds the URL: its errors say what is wrong, never
// what was there.
func decodeSession(status int, reply []byte) (Session, error) {
	var s Session
	if err := json.Unmarshal(reply, &s); err != nil {
		return Session{}, fmt.Errorf("pos: create session: reply %d is not a session object", status)
	}
	var missing []string
	if s.SessionID == "" {
		missing = append(missing, "sessionId")
	}
	if s.URL == "" {
		missing = append(missing, "url")
	} else if checkHTTPURL(s.URL, maxURLLength) != "" {
		return Session{}, fmt.Errorf("pos: create session: reply's url is not an absolute http(s) URL")
	}
	if s.ExpiresAt.IsZero() {
		missing = append(missing, "expiresAt")
	}
	if len(missing) > 0 {
		return Session{}, fmt.Errorf("pos: create session: reply lacks %s", strings.Join(missing, ", "))
	}
	return s, nil
}

func (c *DeliveryRoomClient) endpoint() (string, error) {
	if p := httpURLProblem(c.BaseURL); p != "" {
		return "", errors.New("pos: create session: BaseURL " + p)
	}
	return strings.TrimRight(c.BaseURL, "/") + SessionsPath, nil
}

// drReplyError extracts the code and message of an error reply: the usual JSON members, else a
// single-line excerpt of the body.
func drReplyError(body []byte) (code, msg string) {
	var obj struct {
		Code    any    `json:"code"`
		Message string `json:"message"`
		Error   any    `json:"error"`
	}
	if json.Unmarshal(body, &obj) == nil {
		if s, ok := obj.Code.(string); ok {
			code = s
		}
		msg = obj.Message
		if s, ok := obj.Error.(string); ok && msg == "" {
			msg = s
		}
		if msg != "" {
			return code, excerpt(msg, 300)
		}
	}
	return code, excerpt(string(body), 300)
}

func memberNames(obj map[string]json.RawMessage) []string {
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
