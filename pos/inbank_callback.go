package pos

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/epcflow/epcflow/schemas"
)

// Inbank's callback authenticity is documented as required but its method is not public.
// This file is our convention [ours], in one place; the sandbox signs with SignCallback and
// the engine verifies with VerifyCallback:
//
//   - The body is {"posSessionUuid": "<uuid>", "status": "<status>", "timestamp": <unix s>}:
//     timestamp is a JSON integer, the Unix time in seconds when the callback was made.
//   - The header Inbank-Signature is hex(HMAC-SHA512(key = the shop's API key,
//     message = timestamp + "." + raw body)), where timestamp is the digits of the body's
//     own "timestamp" member exactly as they appear in the body. Taking it from the signed
//     body (not from a header) means there is one timestamp, and it cannot be swapped.
//   - A callback whose timestamp is more than CallbackTolerance away from now (either way)
//     is rejected, which bounds replays.
//
// A callback is only a trigger: even a verified one says "go and look", and the receiver
// reads the session with GET before acting on it.

// HeaderInbankSignature carries a callback's signature.
const HeaderInbankSignature = "Inbank-Signature"

// CallbackTolerance is how far a callback's timestamp may be from now, either way.
const CallbackTolerance = 5 * time.Minute

// InbankCallback is a verified callback body.
type InbankCallback struct {
	POSSessionUUID string       `json:"posSessionUuid"`
	Status         InbankStatus `json:"status"`
	Timestamp      int64        `json:"timestamp"` // Unix seconds
}

// Time is the callback's timestamp.
func (c InbankCallback) Time() time.Time { return time.Unix(c.Timestamp, 0).UTC() }

// Callback verification failures; VerifyCallback's errors are *CallbackError wrapping one.
var (
	ErrCallbackMalformed = errors.New("malformed callback body")
	ErrCallbackSignature = errors.New("callback signature missing or wrong")
	ErrCallbackStale     = errors.New("callback timestamp outside the accepted window")
)

// CallbackError says why a callback was rejected. It never carries a signature or the key;
// Problems (for a malformed body) point into the body.
type CallbackError struct {
	Err      error
	Detail   string
	Problems []schemas.Problem
}

func (e *CallbackError) Error() string {
	s := "pos: inbank callback: " + e.Err.Error()
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	return withProblems(s, e.Problems)
}

func (e *CallbackError) Unwrap() error { return e.Err }

// NewCallbackBody is the callback body for a session's status at time at.
func NewCallbackBody(sessionUUID string, status InbankStatus, at time.Time) []byte {
	b, _ := json.Marshal(InbankCallback{POSSessionUUID: sessionUUID, Status: status, Timestamp: at.Unix()})
	return b
}

// SignCallback returns the Inbank-Signature value of body, whose "timestamp" member is
// timestamp (its digits, e.g. "1772366400").
func SignCallback(apiKey string, body []byte, timestamp string) string {
	return hex.EncodeToString(callbackMAC(apiKey, body, timestamp))
}

func callbackMAC(apiKey string, body []byte, timestamp string) []byte {
	m := hmac.New(sha512.New, []byte(apiKey))
	m.Write([]byte(timestamp))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// VerifyCallback checks a callback's signature (in constant time), its body and its
// timestamp against now, and returns the body decoded. Every failure is a *CallbackError
// (errors.Is: ErrCallbackMalformed, ErrCallbackSignature, ErrCallbackStale). The body is
// parsed before the signature is checked only because the signed message includes its
// timestamp; nothing in it is trusted until the signature matches.
func VerifyCallback(apiKey string, h http.Header, body []byte, now time.Time) (InbankCallback, error) {
	var cb InbankCallback
	if apiKey == "" {
		// A configuration error, never a match: an empty key would accept forged callbacks.
		return cb, &CallbackError{Err: ErrCallbackSignature, Detail: "no API key configured to verify with"}
	}
	sig := strings.TrimSpace(h.Get(HeaderInbankSignature))
	if sig == "" {
		return cb, &CallbackError{Err: ErrCallbackSignature, Detail: HeaderInbankSignature + " header missing"}
	}
	got, err := hex.DecodeString(sig)
	if err != nil || len(got) != sha512.Size {
		return cb, &CallbackError{Err: ErrCallbackSignature, Detail: HeaderInbankSignature + " is not a hex HMAC-SHA512"}
	}
	cb, ts, ps := parseCallback(body)
	if len(ps) > 0 {
		return InbankCallback{}, &CallbackError{Err: ErrCallbackMalformed, Problems: ps}
	}
	if !hmac.Equal(got, callbackMAC(apiKey, body, ts)) {
		return InbankCallback{}, &CallbackError{Err: ErrCallbackSignature, Detail: "does not match the body"}
	}
	if d := now.Sub(cb.Time()); d > CallbackTolerance || d < -CallbackTolerance {
		return InbankCallback{}, &CallbackError{Err: ErrCallbackStale,
			Detail: fmt.Sprintf("timestamp is %s from now, more than %s", d.Round(time.Second), CallbackTolerance)}
	}
	return cb, nil
}

// parseCallback decodes a callback body, reporting every problem with its pointer. It
// returns the timestamp's digits as they appear in the body, for the MAC.
func parseCallback(body []byte) (InbankCallback, string, []schemas.Problem) {
	var cb InbankCallback
	var ps []schemas.Problem
	add := func(ptr, msg string) { ps = append(ps, schemas.Problem{Pointer: ptr, Message: msg}) }
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var obj map[string]any
	if err := dec.Decode(&obj); err != nil || obj == nil {
		add("", "must be a JSON object")
		return cb, "", ps
	}
	if _, err := dec.Token(); err != io.EOF {
		add("", "unexpected data after the JSON object")
	}
	if v, ok := obj["posSessionUuid"]; !ok {
		add("", `missing property "posSessionUuid"`)
	} else if s, ok := v.(string); !ok || !IsUUID(s) {
		add("/posSessionUuid", "must be a UUID string")
	} else {
		cb.POSSessionUUID = s
	}
	if v, ok := obj["status"]; !ok {
		add("", `missing property "status"`)
	} else if s, ok := v.(string); !ok || !InbankStatus(s).Known() {
		add("/status", "must be one of "+quotedStatuses())
	} else {
		cb.Status = InbankStatus(s)
	}
	ts := ""
	if v, ok := obj["timestamp"]; !ok {
		add("", `missing property "timestamp"`)
	} else if n, ok := v.(json.Number); !ok || !inbankDigits(string(n)) {
		add("/timestamp", "must be an integer number of seconds since the Unix epoch")
	} else if sec, err := strconv.ParseInt(string(n), 10, 64); err != nil || sec > maxCallbackUnix {
		add("/timestamp", "out of range")
	} else {
		cb.Timestamp, ts = sec, string(n)
	}
	return cb, ts, ps
}

// maxCallbackUnix keeps time arithmetic far from overflow (year 9999).
const maxCallbackUnix = 253402300799

func inbankDigits(s string) bool {
	if s == "" || len(s) > 19 {
		return false
	}
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func quotedStatuses() string {
	all := InbankStatuses()
	q := make([]string, len(all))
	for i, s := range all {
		q[i] = strconv.Quote(string(s))
	}
	return strings.Join(q, ", ")
}
