package epc

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/epcflow/epcflow/schemas"
)

// SignatureHeader carries base64(HMAC-SHA256(signing key, raw body)).
const SignatureHeader = "Elli-Signature"

// Signature verification failures.
var (
	ErrMissingSignature = errors.New("epc: missing webhook signature")
	ErrBadSignature     = errors.New("epc: bad webhook signature")
)

// errMalformedSignature marks a bad signature that is not even a base64 HMAC-SHA256.
var errMalformedSignature = errors.New("not a standard base64 HMAC-SHA256")

// Verifier checks webhook signatures against one or more signing keys; several keys allow a
// rotation (a body signed with any of them is accepted).
type Verifier struct {
	keys [][]byte
}

// NewVerifier returns a Verifier for the given signing keys. Empty strings are skipped (so a
// split of "a,,b" is fine), but at least one non-empty key is required: an empty HMAC key is
// one anybody can sign with.
func NewVerifier(keys ...string) (*Verifier, error) {
	v := &Verifier{}
	for _, k := range keys {
		if k != "" {
			v.keys = append(v.keys, []byte(k))
		}
	}
	if len(v.keys) == 0 {
		return nil, errors.New("epc: NewVerifier: at least one non-empty signing key required")
	}
	return v, nil
}

// Sign returns the Elli-Signature value of body under key.
func Sign(key string, body []byte) string {
	return base64.StdEncoding.EncodeToString(mac([]byte(key), body))
}

func mac(key, body []byte) []byte {
	h := hmac.New(sha256.New, key)
	h.Write(body)
	return h.Sum(nil)
}

// Verify checks signature (the Elli-Signature header value) against the raw body as received.
// Every key is tried, whatever matched earlier, so timing does not tell which key matched.
// Errors wrap ErrMissingSignature or ErrBadSignature and never contain key material.
func (v *Verifier) Verify(body []byte, signature string) error {
	signature = strings.TrimSpace(signature)
	if signature == "" {
		return ErrMissingSignature
	}
	got, err := base64.StdEncoding.Strict().DecodeString(signature)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBadSignature, errMalformedSignature)
	}
	if len(got) != sha256.Size {
		return fmt.Errorf("%w: %w (%d bytes, want %d)", ErrBadSignature, errMalformedSignature, len(got), sha256.Size)
	}
	match := 0
	for _, k := range v.keys {
		if hmac.Equal(got, mac(k, body)) {
			match |= 1
		}
	}
	if match == 0 {
		return fmt.Errorf("%w: does not match the body under any configured key", ErrBadSignature)
	}
	return nil
}

// ParseWebhook decodes a webhook body and checks its required fields: eventType is created or
// updated, eventTime an RFC 3339 time, meta.resourceType one of the two known types and
// meta.resourceId non-empty. Unknown fields are allowed (the platform may add some). The
// error is a *schemas.ValidationError (Schema: schemas.Webhook) listing every problem found,
// so callers handle it like any other document problem (schemas.Problems, schemas.ErrInvalid).
func ParseWebhook(body []byte) (Webhook, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil || top == nil {
		return Webhook{}, &schemas.ValidationError{Schema: schemas.Webhook, Problems: []schemas.Problem{{Pointer: "", Message: "body must be a JSON object"}}}
	}
	var w Webhook
	var probs []schemas.Problem
	add := func(ptr, msg string) { probs = append(probs, schemas.Problem{Pointer: ptr, Message: msg}) }

	w.EventID, _ = optString(top, "eventId", "/eventId", add)
	if s, ok := reqString(top, "eventTime", "/eventTime", add); ok {
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			add("/eventTime", "must be an RFC 3339 date-time")
		}
		w.EventTime = t
	}
	if s, ok := reqString(top, "eventType", "/eventType", add); ok {
		if s != WebhookCreated && s != WebhookUpdated {
			add("/eventType", fmt.Sprintf("must be one of %q, %q (got %s)", WebhookCreated, WebhookUpdated, quoteShort(s)))
		}
		w.EventType = s
	}

	var meta map[string]json.RawMessage
	switch raw, ok := top["meta"]; {
	case !ok || isNull(raw):
		add("/meta", "required")
	case json.Unmarshal(raw, &meta) != nil || meta == nil:
		add("/meta", "must be an object")
	default:
		m := &w.Meta
		if s, ok := reqString(meta, "resourceType", "/meta/resourceType", add); ok {
			if s != ResourceTransaction && s != ResourceTransactionEvent {
				add("/meta/resourceType", fmt.Sprintf("must be one of %q, %q (got %s)", ResourceTransaction, ResourceTransactionEvent, quoteShort(s)))
			}
			m.ResourceType = s
		}
		m.ResourceID, _ = reqString(meta, "resourceId", "/meta/resourceId", add)
		m.InstanceID, _ = optString(meta, "instanceId", "/meta/instanceId", add)
		m.ResourceRef, _ = optString(meta, "resourceRef", "/meta/resourceRef", add)
		m.UserID, _ = optString(meta, "userId", "/meta/userId", add)
	}
	if len(probs) > 0 {
		return Webhook{}, &schemas.ValidationError{Schema: schemas.Webhook, Problems: probs}
	}
	return w, nil
}

// optString reads an optional string member; null counts as absent.
func optString(obj map[string]json.RawMessage, key, ptr string, add func(string, string)) (string, bool) {
	raw, ok := obj[key]
	if !ok || isNull(raw) {
		return "", false
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		add(ptr, "must be a string")
		return "", false
	}
	return s, true
}

// reqString reads a required, non-empty string member.
func reqString(obj map[string]json.RawMessage, key, ptr string, add func(string, string)) (string, bool) {
	raw, ok := obj[key]
	if !ok || isNull(raw) {
		add(ptr, "required")
		return "", false
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		add(ptr, "must be a string")
		return "", false
	}
	if strings.TrimSpace(s) == "" {
		add(ptr, "required")
		return "", false
	}
	return s, true
}

func isNull(raw json.RawMessage) bool { return string(bytes.TrimSpace(raw)) == "null" }

// quoteShort quotes a received value for an error message, bounded in length.
func quoteShort(s string) string {
	const max = 64
	if len(s) > max {
		s = s[:max] + "…"
	}
	return strconv.Quote(s)
}

// TransactionIDFromWebhook names the transaction a webhook is about: meta.resourceId for a
// transaction webhook; for a transaction event webhook, the {txId} of meta.resourceRef
// …/partner/v2/transactions/{txId}/events/{eventId}.
func TransactionIDFromWebhook(w Webhook) (string, error) {
	switch w.Meta.ResourceType {
	case ResourceTransaction:
		if w.Meta.ResourceID == "" {
			return "", errors.New("epc: webhook /meta/resourceId: required")
		}
		return w.Meta.ResourceID, nil
	case ResourceTransactionEvent:
		tx, err := txIDFromEventRef(w.Meta.ResourceRef)
		if err != nil {
			return "", fmt.Errorf("epc: webhook /meta/resourceRef: %w", err)
		}
		return tx, nil
	default:
		return "", fmt.Errorf("epc: webhook /meta/resourceType: unsupported %s", quoteShort(w.Meta.ResourceType))
	}
}

// txIDFromEventRef accepts a URL or a path ending in /partner/v2/transactions/{txId}/events/{eventId}.
func txIDFromEventRef(ref string) (string, error) {
	if ref == "" {
		return "", errors.New("required for an event webhook")
	}
	u, err := url.Parse(ref)
	if err != nil {
		return "", errors.New("not a valid URL or path")
	}
	segs := strings.Split(strings.Trim(u.EscapedPath(), "/"), "/")
	want := errors.New("must end in /partner/v2/transactions/{transactionId}/events/{eventId}")
	n := len(segs)
	if n < 6 || segs[n-6] != "partner" || segs[n-5] != "v2" || segs[n-4] != "transactions" || segs[n-2] != "events" {
		return "", want
	}
	tx, err := url.PathUnescape(segs[n-3])
	if err != nil || tx == "" || segs[n-1] == "" {
		return "", want
	}
	return tx, nil
}

// RawBodyKey is the gin context key under which VerifyMiddleware stores the verified raw body.
const RawBodyKey = "epc.rawBody"

// DefaultMaxWebhookBody is the body limit VerifyMiddleware applies when given maxBody <= 0.
const DefaultMaxWebhookBody = 1 << 20

// VerifyMiddleware checks the Elli-Signature of a request body before any handler binds it.
// Over maxBody bytes it answers 413; on a missing or bad signature 401; both as JSON
// {"error","detail"} and aborting the chain. Otherwise the raw bytes are available through
// RawBody and c.Request.Body is restored, so later binding sees the same bytes.
func VerifyMiddleware(v *Verifier, maxBody int64) gin.HandlerFunc {
	if v == nil {
		panic("epc: VerifyMiddleware: nil Verifier")
	}
	if maxBody <= 0 {
		maxBody = DefaultMaxWebhookBody
	}
	tooLarge := func(c *gin.Context) {
		c.AbortWithStatusJSON(http.StatusRequestEntityTooLarge, gin.H{
			"error":  "request body too large",
			"detail": fmt.Sprintf("limit is %d bytes", maxBody),
		})
	}
	return func(c *gin.Context) {
		if c.Request.ContentLength > maxBody {
			tooLarge(c)
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, maxBody))
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				tooLarge(c)
				return
			}
			c.AbortWithStatusJSON(http.StatusBadRequest, gin.H{"error": "cannot read request body", "detail": nil})
			return
		}
		if err := v.Verify(body, c.GetHeader(SignatureHeader)); err != nil {
			msg, detail := "bad signature", SignatureHeader+" does not match the body under any configured key"
			switch {
			case errors.Is(err, ErrMissingSignature):
				msg, detail = "missing signature", "header "+SignatureHeader+" is required"
			case errors.Is(err, errMalformedSignature):
				detail = SignatureHeader + " must be a standard base64 HMAC-SHA256"
			}
			c.AbortWithStatusJSON(http.StatusUnauthorized, gin.H{"error": msg, "detail": detail})
			return
		}
		c.Set(RawBodyKey, body)
		c.Request.Body = io.NopCloser(bytes.NewReader(body))
		c.Request.ContentLength = int64(len(body))
		c.Next()
	}
}

// RawBody returns the verified raw body stored by VerifyMiddleware, or nil.
func RawBody(c *gin.Context) []byte {
	if v, ok := c.Get(RawBodyKey); ok {
		if b, ok := v.([]byte); ok {
			return b
		}
	}
	return nil
}
