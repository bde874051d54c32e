package pos_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/epcflow/epcflow/pos"
	"github.com/epcflow/epcflow/schemas"
)

// Vectors computed outside Go:
//
//	printf '%s' "1772366400.$BODY" | openssl dgst -sha512 -hmac sandbox-inbank-key
const (
	vecKey       = "sandbox-inbank-key"
	vecTimestamp = "1772366400" // 2026-03-01T12:00:00Z
	vecSession   = "5e3a459a-aada-4d81-b6ad-09cb9483c8bf"
	vecCompleted = `{"posSessionUuid":"5e3a459a-aada-4d81-b6ad-09cb9483c8bf","status":"completed","timestamp":1772366400}`
	vecSigCompl  = "e4f6ec157d0e93d79b64e28e176c970afc15988d6ff2d6bc11f74e0e61326979075741945e211e0d49436ef1312aedbd3e5aaf31fe031c33e920bd4c3c5cef54"
	vecGranted   = `{"posSessionUuid":"5e3a459a-aada-4d81-b6ad-09cb9483c8bf","status":"granted","timestamp":1772366400}`
	vecSigGrant  = "92ee67dd5f3e4275b5852ee63747f7bd03713002b2ff4f5f18d3ac38b38ff4788c88f3164fe87c5b2100547244783c4060279c6a1310332f245b7be652dfe6cf"
	// vecSigOther is vecCompleted signed with the key "other-key".
	vecSigOther = "b453b64c8785131c9b5c9e7004a0cc5efcf93a2ae975af4c3f889c26588520d66609d108bf292d5b979e2e555a0cea3d4cc2aaa17dc17e0003cfbfea9f302ef2"
)

var vecTime = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func sigHeader(sig string) http.Header {
	h := http.Header{}
	h.Set(pos.HeaderInbankSignature, sig)
	return h
}

func TestSignCallbackVectors(t *testing.T) {
	for _, v := range []struct{ body, sig string }{{vecCompleted, vecSigCompl}, {vecGranted, vecSigGrant}} {
		if got := pos.SignCallback(vecKey, []byte(v.body), vecTimestamp); got != v.sig {
			t.Errorf("SignCallback(%s) = %s, want %s", v.body, got, v.sig)
		}
	}
	if got := string(pos.NewCallbackBody(vecSession, pos.StatusCompleted, vecTime)); got != vecCompleted {
		t.Errorf("NewCallbackBody = %s, want %s", got, vecCompleted)
	}
}

func TestVerifyCallback(t *testing.T) {
	want := pos.InbankCallback{POSSessionUUID: vecSession, Status: pos.StatusCompleted, Timestamp: 1772366400}
	for _, now := range []time.Time{vecTime, vecTime.Add(5 * time.Minute), vecTime.Add(-5 * time.Minute)} {
		got, err := pos.VerifyCallback(vecKey, sigHeader(vecSigCompl), []byte(vecCompleted), now)
		if err != nil || got != want {
			t.Errorf("now %v: got %+v, %v; want %+v", now, got, err, want)
		}
	}
	// Upper-case hex and surrounding spaces are the same signature.
	if _, err := pos.VerifyCallback(vecKey, sigHeader(" "+strings.ToUpper(vecSigCompl)+" "), []byte(vecCompleted), vecTime); err != nil {
		t.Errorf("upper-case hex: %v", err)
	}
	if got := want.Time(); !got.Equal(vecTime) {
		t.Errorf("Time() = %v", got)
	}

	for _, tc := range []struct {
		name   string
		key    string
		header http.Header
		body   string
		now    time.Time
		want   error
		detail string
		ps     []schemas.Problem
	}{
		{"no header", vecKey, http.Header{}, vecCompleted, vecTime, pos.ErrCallbackSignature, "header missing", nil},
		{"not hex", vecKey, sigHeader("zz"), vecCompleted, vecTime, pos.ErrCallbackSignature, "not a hex HMAC-SHA512", nil},
		{"SHA-256 length", vecKey, sigHeader(vecSigCompl[:64]), vecCompleted, vecTime, pos.ErrCallbackSignature, "not a hex HMAC-SHA512", nil},
		{"wrong key", vecKey, sigHeader(vecSigOther), vecCompleted, vecTime, pos.ErrCallbackSignature, "does not match", nil},
		{"no key configured", "", sigHeader(vecSigCompl), vecCompleted, vecTime, pos.ErrCallbackSignature, "no API key", nil},
		{"status swapped", vecKey, sigHeader(vecSigGrant), vecCompleted, vecTime, pos.ErrCallbackSignature, "does not match", nil},
		{"replayed body with a fresh timestamp", vecKey, sigHeader(vecSigCompl),
			strings.Replace(vecCompleted, "1772366400", "1772366700", 1), vecTime, pos.ErrCallbackSignature, "does not match", nil},
		{"stale", vecKey, sigHeader(vecSigCompl), vecCompleted, vecTime.Add(5*time.Minute + time.Second), pos.ErrCallbackStale, "5m1s from now", nil},
		{"from the future", vecKey, sigHeader(vecSigCompl), vecCompleted, vecTime.Add(-6 * time.Minute), pos.ErrCallbackStale, "-6m0s", nil},
		{"not JSON", vecKey, sigHeader(vecSigCompl), `posSessionUuid=x`, vecTime, pos.ErrCallbackMalformed, "",
			[]schemas.Problem{{Pointer: "", Message: "must be a JSON object"}}},
		{"trailing data", vecKey, sigHeader(vecSigCompl), vecCompleted + `{}`, vecTime, pos.ErrCallbackMalformed, "",
			[]schemas.Problem{{Pointer: "", Message: "unexpected data after the JSON object"}}},
		{"empty object", vecKey, sigHeader(vecSigCompl), `{}`, vecTime, pos.ErrCallbackMalformed, "", []schemas.Problem{
			{Pointer: "", Message: `missing property "posSessionUuid"`},
			{Pointer: "", Message: `missing property "status"`},
			{Pointer: "", Message: `missing property "timestamp"`},
		}},
		{"bad members", vecKey, sigHeader(vecSigCompl), `{"posSessionUuid":"abc","status":"paid","timestamp":"1772366400"}`, vecTime,
			pos.ErrCallbackMalformed, "", []schemas.Problem{
				{Pointer: "/posSessionUuid", Message: "must be a UUID string"},
				{Pointer: "/status", Message: `must be one of "pending", "granted", "completed", "cancelled", "declined", "expired"`},
				{Pointer: "/timestamp", Message: "must be an integer number of seconds since the Unix epoch"},
			}},
		{"fractional timestamp", vecKey, sigHeader(vecSigCompl), strings.Replace(vecCompleted, "1772366400", "1772366400.5", 1), vecTime,
			pos.ErrCallbackMalformed, "", []schemas.Problem{{Pointer: "/timestamp", Message: "must be an integer number of seconds since the Unix epoch"}}},
		{"huge timestamp", vecKey, sigHeader(vecSigCompl), strings.Replace(vecCompleted, "1772366400", "9999999999999999999", 1), vecTime,
			pos.ErrCallbackMalformed, "", []schemas.Problem{{Pointer: "/timestamp", Message: "out of range"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := pos.VerifyCallback(tc.key, tc.header, []byte(tc.body), tc.now)
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %+v, %v; want %v", got, err, tc.want)
			}
			if got != (pos.InbankCallback{}) {
				t.Errorf("a rejected callback returned %+v", got)
			}
			var ce *pos.CallbackError
			if !errors.As(err, &ce) {
				t.Fatalf("%T is not a *pos.CallbackError", err)
			}
			if !strings.Contains(err.Error(), tc.detail) {
				t.Errorf("error %q does not say %q", err, tc.detail)
			}
			if !reflect.DeepEqual(ce.Problems, tc.ps) {
				t.Errorf("problems:\n got %v\nwant %v", ce.Problems, tc.ps)
			}
			for _, secret := range []string{vecKey, vecSigCompl, vecSigOther} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error %q leaks a secret", err)
				}
			}
		})
	}
}

// Flipping any one byte of a signed callback (body or signature) never verifies.
func TestVerifyCallbackFlippedBytes(t *testing.T) {
	for i := range len(vecCompleted) {
		b := []byte(vecCompleted)
		b[i] ^= 0x01
		if _, err := pos.VerifyCallback(vecKey, sigHeader(vecSigCompl), b, vecTime); err == nil {
			t.Errorf("body with byte %d flipped verified: %s", i, b)
		}
	}
	for i := range len(vecSigCompl) {
		s := []byte(vecSigCompl)
		s[i] ^= 0x01
		if _, err := pos.VerifyCallback(vecKey, sigHeader(string(s)), []byte(vecCompleted), vecTime); err == nil {
			t.Errorf("signature with byte %d flipped verified", i)
		}
	}
}

// FuzzVerifyCallback: arbitrary bodies and signatures never panic and never verify unless
// signed with the key; a body signed with the key verifies, and with one byte flipped it
// does not.
func FuzzVerifyCallback(f *testing.F) {
	f.Add([]byte(vecCompleted), vecSigCompl, uint(0))
	f.Add([]byte(vecGranted), vecSigGrant, uint(40))
	f.Add([]byte(`{}`), "", uint(1))
	f.Add([]byte(`{"posSessionUuid":null,"status":[],"timestamp":-1}`), "00", uint(2))
	f.Add([]byte(`{"timestamp":1e3}`), vecSigOther, uint(3))
	f.Add([]byte(`{"posSessionUuid":"5e3a459a-aada-4d81-b6ad-09cb9483c8bf","status":"expired","timestamp":1,"timestamp":2}`), "", uint(9))
	f.Fuzz(func(t *testing.T, body []byte, sig string, flip uint) {
		cb, err := pos.VerifyCallback(vecKey, sigHeader(sig), body, vecTime)
		if err == nil && pos.SignCallback(vecKey, body, strconv.FormatInt(cb.Timestamp, 10)) != strings.ToLower(strings.TrimSpace(sig)) {
			t.Fatalf("verified a callback not signed with the key: %q", body)
		}
		// Sign the body as the sandbox would, at its own time, then flip one byte.
		var m map[string]any
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.UseNumber()
		if dec.Decode(&m) != nil || len(body) == 0 {
			return
		}
		n, ok := m["timestamp"].(json.Number)
		if !ok {
			return
		}
		sec, err := n.Int64()
		if err != nil {
			return
		}
		good := pos.SignCallback(vecKey, body, n.String())
		now := time.Unix(sec, 0)
		if _, err := pos.VerifyCallback(vecKey, sigHeader(good), body, now); err != nil {
			return // malformed in another way
		}
		b := append([]byte(nil), body...)
		i := int(flip % uint(len(b)))
		b[i] ^= 0x20
		if _, err := pos.VerifyCallback(vecKey, sigHeader(good), b, now); err == nil {
			t.Fatalf("flipped byte %d verified: %q", i, b)
		}
	})
}
