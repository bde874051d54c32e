package epc_test

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/epcflow/epcflow/epc"
	"github.com/epcflow/epcflow/internal/testkit"
)

// ICE's published examples (testdata/conformance/README.md) through the client's decoders:
// each decodes, keeps every field epcflow uses, and loses nothing it models (what it encodes
// again is the example's own).

const conformance = "epc/testdata/conformance/"

func TestConformanceDecoders(t *testing.T) {
	tests := []struct {
		file string
		into func() any
		uses []string // JSON pointers epcflow reads
	}{
		{"epc/testdata/transaction.json", func() any { return new(epc.Transaction) }, []string{
			"/id", "/status", "/clientId", "/product/name", "/request/type", "/request/loanFormat", "/request/loan/loanNumber",
			"/request/loan/property/streetAddress", "/request/loan/property/postalCode", "/request/credentials/username",
			"/request/credentials/password", "/request/options/testOptionString", "/response/status", "/response/partnerStatus",
			"/response/resources/0/id", "/events/0/type", "/events/1/comments", "/events/2/resources/0/location",
			"/events/2/resources/0/authorization", "/events/3/type"}},
		{conformance + "pc-response-processed-event.json", func() any { return new(epc.Event) }, []string{
			"/id", "/type", "/sent", "/comments", "/details/status", "/details/requestType", "/details/transactionId"}},
		{conformance + "seed-003-processed-events.json", func() any { return new([]epc.Event) }, []string{
			"/0/type", "/1/id", "/1/details/action", "/1/details/status", "/1/details/serviceEvents/0/success/0/code",
			"/1/details/serviceEvents/0/success/0/lenderEntities/0/type", "/1/details/transactionId"}},
		{conformance + "pc-error-guide-response.json", func() any { return new(epc.Response) }, []string{
			"/status", "/partnerStatus", "/errors/0/code", "/errors/0/description", "/errors/0/type", "/errors/0/fieldId", "/errors/0/resourceId"}},
	}
	for _, tc := range tests {
		t.Run(tc.file[strings.LastIndex(tc.file, "/")+1:], func(t *testing.T) {
			raw := testkit.Fixture(t, tc.file)
			v := tc.into()
			if err := json.Unmarshal(raw, v); err != nil {
				t.Fatalf("decode: %v", err)
			}
			again, err := json.Marshal(v)
			if err != nil {
				t.Fatal(err)
			}
			var orig, got any
			if err := json.Unmarshal(raw, &orig); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(again, &got); err != nil {
				t.Fatal(err)
			}
			for _, p := range subsetProblems(orig, got, "") {
				t.Error(p)
			}
			for _, ptr := range tc.uses {
				want, ok := pointer(orig, ptr)
				if !ok {
					t.Fatalf("the example has no %s", ptr)
				}
				if have, ok := pointer(got, ptr); !ok || !reflect.DeepEqual(have, want) {
					t.Errorf("%s: decoded %v, the example %v", ptr, have, want)
				}
			}
		})
	}
	// The processed event of an UpdateLoan response is no CREATE_SERVICE_EVENTS outcome.
	var ev epc.Event
	testkit.FixtureJSON(t, conformance+"pc-response-processed-event.json", &ev)
	var d epc.ProcessedDetails
	if err := json.Unmarshal(ev.Details, &d); err != nil || d.Action != "" || d.Status != "Processing" || d.TransactionID == "" {
		t.Errorf("details = %+v, %v", d, err)
	}
}

func TestConformanceWebhooks(t *testing.T) {
	for _, tc := range []struct {
		file                   string
		eventID, resourceType  string
		transaction, instance  string
		handled, namesNoTxOfUs bool
	}{
		{"pc-transaction-event-webhook.json", "", epc.ResourceTransactionEvent, "{{TRANSACTION_ID}}", "{{PRODUCT_NAME}}", true, false},
		{"dc-serviceorder-placed-webhook.json", "86e9f5d1-b2f9-4574-b7a1-358f52cad179", "ServiceOrder", "", "be11172718", false, true},
	} {
		t.Run(tc.file, func(t *testing.T) {
			w, err := epc.ParseWebhook(testkit.Fixture(t, conformance+tc.file))
			if err != nil {
				t.Fatal(err)
			}
			if w.EventID != tc.eventID || w.Meta.ResourceType != tc.resourceType || w.Meta.InstanceID != tc.instance || w.EventTime.IsZero() {
				t.Errorf("webhook = %+v", w)
			}
			if epc.Handled(w.Meta.ResourceType, w.EventType) != tc.handled {
				t.Errorf("Handled = %v", !tc.handled)
			}
			tx, err := epc.TransactionIDFromWebhook(w)
			if tc.namesNoTxOfUs {
				if err == nil {
					t.Errorf("transaction %q from a webhook that names none", tx)
				}
				return
			}
			if err != nil || tx != tc.transaction {
				t.Errorf("transaction = %q, %v; want %q", tx, err, tc.transaction)
			}
		})
	}
}

// subsetProblems lists where got (the example decoded and encoded again) is not part of orig.
func subsetProblems(orig, got any, at string) []string {
	switch g := got.(type) {
	case map[string]any:
		o, ok := orig.(map[string]any)
		if !ok {
			return []string{at + ": an object, the example has " + fmt.Sprint(orig)}
		}
		var out []string
		for k, v := range g {
			ov, ok := o[k]
			if !ok {
				out = append(out, at+"/"+k+": not in the example")
				continue
			}
			out = append(out, subsetProblems(ov, v, at+"/"+k)...)
		}
		return out
	case []any:
		o, ok := orig.([]any)
		if !ok || len(o) != len(g) {
			return []string{at + ": an array of another length than the example's"}
		}
		var out []string
		for i := range g {
			out = append(out, subsetProblems(o[i], g[i], at+"/"+strconv.Itoa(i))...)
		}
		return out
	}
	if !reflect.DeepEqual(orig, got) {
		return []string{fmt.Sprintf("%s: %v, the example %v", at, got, orig)}
	}
	return nil
}

// pointer resolves a JSON pointer (no escapes) in decoded JSON.
func pointer(v any, ptr string) (any, bool) {
	for _, seg := range strings.Split(strings.TrimPrefix(ptr, "/"), "/") {
		switch c := v.(type) {
		case map[string]any:
			var ok bool
			if v, ok = c[seg]; !ok {
				return nil, false
			}
		case []any:
			i, err := strconv.Atoi(seg)
			if err != nil || i < 0 || i >= len(c) {
				return nil, false
			}
			v = c[i]
		default:
			return nil, false
		}
	}
	return v, true
}
