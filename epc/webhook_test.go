package epc

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/epcflow/epcflow/schemas"
)

// Test vectors computed outside Go, with:
//
//	printf '%s' "$vectorBody" | openssl dgst -sha256 -hmac "$key" -binary | base64
const (
	vectorBody       = `{"eventId":"5f0f6ac5-3b3c-4a67-9d4e-bd3d9c1a2b77","eventTime":"2024-05-01T12:00:00Z","eventType":"created","meta":{"resourceType":"urn:elli:epc:transaction","resourceId":"0bf34a40-8ca1-4b58-8cbc-dd6b9f67dc63","instanceId":"BE11172718","resourceRef":"https://api.elliemae.com/partner/v2/transactions/0bf34a40-8ca1-4b58-8cbc-dd6b9f67dc63"}}`
	primaryKey       = "whsec-primary-2024"
	rotatedKey       = "whsec-rotated-2025"
	primarySignature = "6WBVfJJikjaVqAEIL5F82xEc0TkJHWUxGMYjf7exQZY="
	rotatedSignature = "PtwYUcrGZ/k8J+KYexgXdKkjMGKS8dj9W8GDXQSbE2Q="
)

const eventWebhookBody = `{"eventTime":"2024-05-01T12:05:00.123Z","eventType":"created","meta":{"resourceType":"urn:elli:epc:transaction:event","resourceId":"cb140fdb-e208-48a7-83bf-181933bee8fd","instanceId":"BE11172718","resourceRef":"/partner/v2/transactions/0bf34a40-8ca1-4b58-8cbc-dd6b9f67dc63/events/cb140fdb-e208-48a7-83bf-181933bee8fd","userId":"donaldd"}}`

func TestSignMatchesOpenSSLVectors(t *testing.T) {
	require.Equal(t, primarySignature, Sign(primaryKey, []byte(vectorBody)))
	require.Equal(t, rotatedSignature, Sign(rotatedKey, []byte(vectorBody)))
}

func TestVerify(t *testing.T) {
	flipped := []byte(vectorBody)
	flipped[len(flipped)/2] ^= 0x01
	rawSig, err := base64.StdEncoding.DecodeString(primarySignature)
	require.NoError(t, err)

	tests := []struct {
		name    string
		keys    []string
		body    []byte
		sig     string
		wantErr error
	}{
		{"primary key", []string{primaryKey}, []byte(vectorBody), primarySignature, nil},
		{"surrounding whitespace tolerated", []string{primaryKey}, []byte(vectorBody), " " + primarySignature + "\t", nil},
		{"rotation accepts the new key", []string{primaryKey, rotatedKey}, []byte(vectorBody), rotatedSignature, nil},
		{"rotation still accepts the old key", []string{primaryKey, rotatedKey}, []byte(vectorBody), primarySignature, nil},
		{"empty keys skipped", []string{"", rotatedKey, ""}, []byte(vectorBody), rotatedSignature, nil},
		{"unknown key rejected", []string{primaryKey}, []byte(vectorBody), rotatedSignature, ErrBadSignature},
		{"flipped body byte rejected", []string{primaryKey, rotatedKey}, flipped, primarySignature, ErrBadSignature},
		{"missing header", []string{primaryKey}, []byte(vectorBody), "", ErrMissingSignature},
		{"blank header", []string{primaryKey}, []byte(vectorBody), "   ", ErrMissingSignature},
		{"not base64", []string{primaryKey}, []byte(vectorBody), "not base64!!", ErrBadSignature},
		{"unpadded base64 rejected", []string{primaryKey}, []byte(vectorBody), strings.TrimRight(primarySignature, "="), ErrBadSignature},
		{"url-safe alphabet rejected", []string{rotatedKey}, []byte(vectorBody), base64.URLEncoding.EncodeToString(mustB64(t, rotatedSignature)), ErrBadSignature},
		{"hex instead of base64", []string{primaryKey}, []byte(vectorBody), "e96055", ErrBadSignature},
		{"truncated mac", []string{primaryKey}, []byte(vectorBody), base64.StdEncoding.EncodeToString(rawSig[:16]), ErrBadSignature},
		{"signature of empty body", []string{primaryKey}, []byte(vectorBody), Sign(primaryKey, nil), ErrBadSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := NewVerifier(tt.keys...)
			require.NoError(t, err)
			err = v.Verify(tt.body, tt.sig)
			if tt.wantErr == nil {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, tt.wantErr)
			for _, k := range tt.keys {
				if k != "" {
					require.NotContains(t, err.Error(), k)
				}
			}
		})
	}
}

func mustB64(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	require.NoError(t, err)
	return b
}

func TestNewVerifierNeedsAKey(t *testing.T) {
	for _, keys := range [][]string{nil, {""}, {"", ""}} {
		_, err := NewVerifier(keys...)
		require.Error(t, err, "keys %q", keys)
	}
}

func TestParseWebhook(t *testing.T) {
	w, err := ParseWebhook([]byte(vectorBody))
	require.NoError(t, err)
	require.Equal(t, Webhook{
		EventID:   "5f0f6ac5-3b3c-4a67-9d4e-bd3d9c1a2b77",
		EventTime: time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC),
		EventType: WebhookCreated,
		Meta: WebhookMeta{
			ResourceType: ResourceTransaction,
			ResourceID:   "0bf34a40-8ca1-4b58-8cbc-dd6b9f67dc63",
			InstanceID:   "BE11172718",
			ResourceRef:  "https://api.elliemae.com/partner/v2/transactions/0bf34a40-8ca1-4b58-8cbc-dd6b9f67dc63",
		},
	}, w)

	w, err = ParseWebhook([]byte(eventWebhookBody))
	require.NoError(t, err)
	require.Equal(t, ResourceTransactionEvent, w.Meta.ResourceType)
	require.Equal(t, "donaldd", w.Meta.UserID)
	require.Empty(t, w.EventID)
	require.Equal(t, 123*time.Millisecond, time.Duration(w.EventTime.Nanosecond()))

	// Types we do not act on are taken all the same: a refusal would lose the webhook.
	w, err = ParseWebhook([]byte(`{"eventTime":"2024-05-01T12:00:00Z","eventType":"deleted","meta":{"resourceType":"urn:elli:epc:loan","resourceId":"x"}}`))
	require.NoError(t, err)
	require.Equal(t, "deleted", w.EventType)
	require.Equal(t, "urn:elli:epc:loan", w.Meta.ResourceType)

	// Unknown fields, anywhere, are the platform's to add.
	_, err = ParseWebhook([]byte(`{"eventTime":"2024-05-01T12:00:00Z","eventType":"updated","extra":{"a":1},` +
		`"meta":{"resourceType":"urn:elli:epc:transaction","resourceId":"tx-1","newField":true}}`))
	require.NoError(t, err)
}

func TestParseWebhookProblems(t *testing.T) {
	tests := []struct {
		name string
		body string
		want []schemas.Problem
	}{
		{"not JSON", `{"eventType":`, []schemas.Problem{{Pointer: "", Message: "body must be a JSON object"}}},
		{"array", `[]`, []schemas.Problem{{Pointer: "", Message: "body must be a JSON object"}}},
		{"null", `null`, []schemas.Problem{{Pointer: "", Message: "body must be a JSON object"}}},
		{"empty object", `{}`, []schemas.Problem{
			{Pointer: "/eventTime", Message: "required"},
			{Pointer: "/eventType", Message: "required"},
			{Pointer: "/meta", Message: "required"},
		}},
		{"every meta problem", `{"eventId":7,"eventTime":"yesterday","eventType":" ","meta":{"resourceType":"","resourceId":"","instanceId":5}}`, []schemas.Problem{
			{Pointer: "/eventId", Message: "must be a string"},
			{Pointer: "/eventTime", Message: "must be an RFC 3339 date-time"},
			{Pointer: "/eventType", Message: "required"},
			{Pointer: "/meta/resourceType", Message: "required"},
			{Pointer: "/meta/resourceId", Message: "required"},
			{Pointer: "/meta/instanceId", Message: "must be a string"},
		}},
		{"meta not an object", `{"eventTime":"2024-05-01T12:00:00Z","eventType":"created","meta":"tx-1"}`, []schemas.Problem{
			{Pointer: "/meta", Message: "must be an object"},
		}},
		{"nulls count as missing", `{"eventTime":null,"eventType":"created","meta":{"resourceType":"urn:elli:epc:transaction","resourceId":null}}`, []schemas.Problem{
			{Pointer: "/eventTime", Message: "required"},
			{Pointer: "/meta/resourceId", Message: "required"},
		}},
		{"wrong types", `{"eventTime":1714564800,"eventType":true,"meta":{"resourceType":["x"],"resourceId":{}}}`, []schemas.Problem{
			{Pointer: "/eventTime", Message: "must be a string"},
			{Pointer: "/eventType", Message: "must be a string"},
			{Pointer: "/meta/resourceType", Message: "must be a string"},
			{Pointer: "/meta/resourceId", Message: "must be a string"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseWebhook([]byte(tt.body))
			require.ErrorIs(t, err, schemas.ErrInvalid)
			require.Equal(t, tt.want, schemas.Problems(err))
			for _, p := range tt.want {
				require.Contains(t, err.Error(), p.Message)
			}
		})
	}
}

func TestTransactionIDFromWebhook(t *testing.T) {
	const tx = "0bf34a40-8ca1-4b58-8cbc-dd6b9f67dc63"
	event := func(ref string) Webhook {
		return Webhook{EventType: WebhookCreated, Meta: WebhookMeta{ResourceType: ResourceTransactionEvent, ResourceID: "ev-1", ResourceRef: ref}}
	}
	tests := []struct {
		name    string
		w       Webhook
		want    string
		wantErr string
	}{
		{"transaction", Webhook{Meta: WebhookMeta{ResourceType: ResourceTransaction, ResourceID: tx}}, tx, ""},
		{"event, absolute URL", event("https://api.elliemae.com/partner/v2/transactions/" + tx + "/events/ev-1"), tx, ""},
		{"event, path", event("/partner/v2/transactions/" + tx + "/events/ev-1"), tx, ""},
		{"event, prefixed path", event("http://127.0.0.1:8090/epc/partner/v2/transactions/" + tx + "/events/ev-1"), tx, ""},
		{"event, escaped id", event("/partner/v2/transactions/tx%2F1/events/ev-1"), "tx/1", ""},
		{"transaction without id", Webhook{Meta: WebhookMeta{ResourceType: ResourceTransaction}}, "", "/meta/resourceId: required"},
		{"event without ref", event(""), "", "/meta/resourceRef: required"},
		{"event ref to the transaction", event("/partner/v2/transactions/" + tx), "", "/meta/resourceRef: must end in"},
		{"event ref to another API", event("/partner/v1/transactions/" + tx + "/events/ev-1"), "", "/meta/resourceRef: must end in"},
		{"event ref without event id", event("/partner/v2/transactions/" + tx + "/events/"), "", "/meta/resourceRef: must end in"},
		{"unknown resource type without a reference", Webhook{Meta: WebhookMeta{ResourceType: "urn:elli:epc:loan", ResourceID: "x"}}, "", "names no transaction"},
		{"unknown resource type under a transaction", Webhook{Meta: WebhookMeta{ResourceType: "urn:elli:epc:transaction:message", ResourceID: "m-1",
			ResourceRef: "https://api.elliemae.com/partner/v2/transactions/" + tx + "/messages/m-1"}}, tx, ""},
		{"unknown resource type, the transaction itself", Webhook{Meta: WebhookMeta{ResourceType: "urn:x", ResourceID: "x", ResourceRef: "/partner/v2/transactions/" + tx}}, tx, ""},
		{"unknown resource type elsewhere", Webhook{Meta: WebhookMeta{ResourceType: "urn:x", ResourceID: "x", ResourceRef: "/partner/v2/products/p-1"}}, "", "names no transaction"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := TransactionIDFromWebhook(tt.w)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				known := tt.w.Meta.ResourceType == ResourceTransaction || tt.w.Meta.ResourceType == ResourceTransactionEvent
				require.Equal(t, !known, errors.Is(err, ErrNoTransaction), "ErrNoTransaction only for unknown resource types")
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestHandled(t *testing.T) {
	for _, tt := range []struct {
		resource, event string
		want            bool
	}{
		{ResourceTransaction, WebhookCreated, true},
		{ResourceTransaction, WebhookUpdated, true},
		{ResourceTransactionEvent, WebhookCreated, true},
		{ResourceTransactionEvent, WebhookUpdated, false},
		{ResourceTransaction, "deleted", false},
		{"urn:elli:epc:loan", WebhookCreated, false},
	} {
		require.Equal(t, tt.want, Handled(tt.resource, tt.event), "%s %s", tt.resource, tt.event)
	}
}

func TestEventFromRef(t *testing.T) {
	tx, ev, err := EventFromRef("https://api.elliemae.com/partner/v2/transactions/tx-1/events/ev%2F2")
	require.NoError(t, err)
	require.Equal(t, "tx-1", tx)
	require.Equal(t, "ev/2", ev)
	for _, ref := range []string{"", "/partner/v2/transactions/tx-1", "/partner/v2/transactions/tx-1/events", "/partner/v2/transactions/tx-1/files/f", "/partner/v2/transactions/tx-1/events/e/more"} {
		_, _, err := EventFromRef(ref)
		require.Error(t, err, ref)
	}
}

// FuzzWebhook: parsing never panics and fails only with a *ValidationError; a signature
// always verifies for its own body and never once one byte of the body or signature changes.
func FuzzWebhook(f *testing.F) {
	for _, b := range []string{
		vectorBody,
		eventWebhookBody,
		`{"eventTime":"2024-05-01T12:00:00Z","eventType":"updated","meta":{"resourceType":"urn:elli:epc:transaction","resourceId":"tx-1","instanceId":"BE1","resourceRef":"/partner/v2/transactions/tx-1"}}`,
		`{"eventType":"created","meta":{"resourceType":"urn:elli:epc:transaction:event","resourceId":"ev","resourceRef":"/partner/v2/transactions//events/ev"}}`,
		`{}`,
		``,
	} {
		f.Add([]byte(b), primaryKey, uint16(7))
	}
	f.Fuzz(func(t *testing.T, body []byte, key string, pos uint16) {
		if w, err := ParseWebhook(body); err == nil {
			if w.EventType == "" || w.Meta.ResourceType == "" || w.Meta.ResourceID == "" || w.EventTime.IsZero() {
				t.Fatalf("accepted webhook lacks a required field: %+v", w)
			}
			_, _ = TransactionIDFromWebhook(w)
		} else {
			if !errors.Is(err, schemas.ErrInvalid) || len(schemas.Problems(err)) == 0 {
				t.Fatalf("ParseWebhook error is not a ValidationError with problems: %v", err)
			}
		}

		if key == "" {
			key = "k"
		}
		v, err := NewVerifier(key)
		if err != nil {
			t.Fatal(err)
		}
		_ = v.Verify(body, string(body)) // any header value: no panic
		sig := Sign(key, body)
		if err := v.Verify(body, sig); err != nil {
			t.Fatalf("own signature rejected: %v", err)
		}
		if len(body) > 0 {
			flipped := bytes.Clone(body)
			flipped[int(pos)%len(flipped)] ^= 0x01
			if err := v.Verify(flipped, sig); !errors.Is(err, ErrBadSignature) {
				t.Fatalf("flipped body byte %d verified: %v", int(pos)%len(flipped), err)
			}
		}
		raw, _ := base64.StdEncoding.DecodeString(sig)
		raw[int(pos)%len(raw)] ^= 0x01
		if err := v.Verify(body, base64.StdEncoding.EncodeToString(raw)); !errors.Is(err, ErrBadSignature) {
			t.Fatalf("flipped signature byte verified: %v", err)
		}
	})
}
