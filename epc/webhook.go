package epc

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/epcflow/epcflow/schemas"
)

// SignatureHeader carries base64(HMAC-SHA256(signing key, raw body)) [doc].
const SignatureHeader = "Elli-Signature"

// AltSignatureHeader is the header ICE's .NET reference integration reads the signature from
// [sample]; a webhook signed in either header is accepted.
const AltSignatureHeader = "X-Elli-Signature"

// DefaultMaxWebhookBody bounds a webhook body by default (1 MiB).
const DefaultMaxWebhookBody = 1 << 20

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

// ParseWebhook decodes a webhook body and checks its required fields: eventTime an RFC 3339
// time, eventType, meta.resourceType and meta.resourceId non-empty strings. Any event or
// resource type is taken (Handled tells those epcflow acts on): a webhook refused with a 4xx
// is lost for good, and the platform may add types. Unknown fields are allowed too. The error
// is a *schemas.ValidationError (Schema: schemas.Webhook) listing every problem found, so
// callers handle it like any other document problem (schemas.Problems, schemas.ErrInvalid).
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
	w.EventType, _ = reqString(top, "eventType", "/eventType", add)

	var meta map[string]json.RawMessage
	switch raw, ok := top["meta"]; {
	case !ok || isNull(raw):
		add("/meta", "required")
	case json.Unmarshal(raw, &meta) != nil || meta == nil:
		add("/meta", "must be an object")
	default:
		m := &w.Meta
		m.ResourceType, _ = reqString(meta, "resourceType", "/meta/resourceType", add)
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

// Handled reports whether epcflow acts on webhooks of this resource and event type: a
// transaction created or updated, a transaction event created. The others are accepted (a
// refusal would lose them for good), counted and recorded on their order.
func Handled(resourceType, eventType string) bool {
	switch resourceType {
	case ResourceTransaction:
		return eventType == WebhookCreated || eventType == WebhookUpdated
	case ResourceTransactionEvent:
		return eventType == WebhookCreated
	}
	return false
}

// ErrNoTransaction: a webhook of a resource type epcflow does not know names no transaction
// it can find (its resourceRef is not under /partner/v2/transactions/{id}).
var ErrNoTransaction = errors.New("epc: webhook names no transaction")

// TransactionIDFromWebhook names the transaction a webhook is about: meta.resourceId for a
// transaction webhook; for a transaction event webhook, the {txId} of meta.resourceRef
// …/partner/v2/transactions/{txId}/events/{eventId}. For any other resource type it is the
// {txId} of a resourceRef …/partner/v2/transactions/{txId}[/…], else ErrNoTransaction.
func TransactionIDFromWebhook(w Webhook) (string, error) {
	switch w.Meta.ResourceType {
	case ResourceTransaction:
		if w.Meta.ResourceID == "" {
			return "", errors.New("epc: webhook /meta/resourceId: required")
		}
		return w.Meta.ResourceID, nil
	case ResourceTransactionEvent:
		tx, _, err := EventFromRef(w.Meta.ResourceRef)
		if err != nil {
			return "", fmt.Errorf("epc: webhook /meta/resourceRef: %w", err)
		}
		return tx, nil
	default:
		tx, _, err := transactionRef(w.Meta.ResourceRef)
		if err != nil {
			return "", fmt.Errorf("%w (resource type %s)", ErrNoTransaction, quoteShort(w.Meta.ResourceType))
		}
		return tx, nil
	}
}

// EventFromRef reads a transaction event's reference, a URL or a path ending in
// /partner/v2/transactions/{txId}/events/{eventId}.
func EventFromRef(ref string) (txID, eventID string, err error) {
	if ref == "" {
		return "", "", errors.New("required for an event webhook")
	}
	want := errors.New("must end in /partner/v2/transactions/{transactionId}/events/{eventId}")
	tx, rest, err := transactionRef(ref)
	if err != nil || len(rest) != 2 || rest[0] != "events" || rest[1] == "" {
		return "", "", want
	}
	ev, err := url.PathUnescape(rest[1])
	if err != nil {
		return "", "", want
	}
	return tx, ev, nil
}

// transactionRef finds …/partner/v2/transactions/{txId} in a URL or path and returns the
// transaction id and the path segments after it (still escaped).
func transactionRef(ref string) (txID string, rest []string, err error) {
	bad := errors.New("not a reference under /partner/v2/transactions/{transactionId}")
	u, err := url.Parse(ref)
	if err != nil || ref == "" {
		return "", nil, bad
	}
	segs := strings.Split(strings.Trim(u.EscapedPath(), "/"), "/")
	// The last match: a prefix of the platform's own may come before it.
	for i := len(segs) - 4; i >= 0; i-- {
		if segs[i] != "partner" || segs[i+1] != "v2" || segs[i+2] != "transactions" {
			continue
		}
		tx, err := url.PathUnescape(segs[i+3])
		if err != nil || tx == "" {
			return "", nil, bad
		}
		return tx, segs[i+4:], nil
	}
	return "", nil, bad
}
