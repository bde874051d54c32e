package inbankemu

import (
	"context"
	"encoding/json"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/epcflow/epcflow/internal/testkit"
	"github.com/epcflow/epcflow/schemas"
)

// inbankBody is the minimal seed-001 body, as a document to mutate.
func inbankBody(t *testing.T) map[string]any {
	var d map[string]any
	testkit.FixtureJSON(t, minimal, &d)
	return d
}

// A mutation changes a valid body into an invalid one.
type mutation func(d map[string]any)

// drop removes the member at ptr.
func drop(ptr string) mutation { return func(d map[string]any) { testkit.Delete(d, ptr) } }

// set sets the member at ptr to v.
func set(ptr string, v any) mutation { return func(d map[string]any) { testkit.Set(d, ptr, v) } }

// both applies m, then n.
func both(m, n mutation) mutation { return func(d map[string]any) { m(d); n(d) } }

// One row per seed-001 rule: the sandbox answers 400 with the problem at its pointer, and
// the client refuses the same body with the same problems before calling.
func TestInbankValidationRules(t *testing.T) {
	e := newEnv(t, nil)
	const a0, a1 = "/rentalApplicationData/assets/0", "/rentalApplicationData/assets/1"
	urls := func(kv ...string) map[string]any {
		m := map[string]any{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = "https://shop.example/" + kv[i+1]
		}
		return m
	}
	for _, tc := range []struct {
		name     string
		mutate   mutation
		ptr, msg string
	}{
		{"missing productCode", drop("/productCode"), "", `missing property "productCode"`},
		{"lowercase currency", set("/currency", "eur"), "/currency", "must be an uppercase ISO 4217 currency code"},
		{"currency other than EUR", set("/currency", "USD"), "/currency", `must be one of "EUR"`},
		{"missing locale", drop("/locale"), "", `missing property "locale"`},
		{"bad locale", set("/locale", "estonian"), "/locale", `must be a language-country code xx-XX, such as "et-EE"`},
		{"bad validUntil", set("/validUntil", "tomorrow"), "/validUntil", "must be a valid date-time"},
		{"customerData without identityCode", set("/customerData", map[string]any{"firstName": "Anna", "lastName": "Ozola"}),
			"/customerData", `missing property "identityCode"`},
		{"customerData without firstName", set("/customerData", map[string]any{"identityCode": "1", "lastName": "Ozola"}),
			"/customerData", `missing property "firstName"`},
		{"customerData without lastName", set("/customerData", map[string]any{"identityCode": "1", "firstName": "Anna"}),
			"/customerData", `missing property "lastName"`},
		{"customerContactData without mobile", set("/customerContactData", map[string]any{"email": "anna@example.com"}),
			"/customerContactData", `missing property "mobile"`},
		{"customerContactData without email", set("/customerContactData", map[string]any{"mobile": "+37255555555"}),
			"/customerContactData", `missing property "email"`},
		{"missing purchase", drop("/purchase"), "", `missing property "purchase"`},
		{"missing purchase.description", drop("/purchase/description"), "/purchase", `missing property "description"`},
		{"merchant without merchantOrderReference", set("/purchase/merchant", []any{map[string]any{"merchantDomainName": "shop.example"}}),
			"/purchase/merchant/0", `missing property "merchantOrderReference"`},
		{"missing rentalApplicationData", drop("/rentalApplicationData"), "", `missing property "rentalApplicationData"`},
		{"missing assets", drop("/rentalApplicationData/assets"), "/rentalApplicationData", `missing property "assets"`},
		{"asset without modelName", drop(a1 + "/modelName"), a1, `missing property "modelName"`},
		{"asset without netPrice", drop(a1 + "/netPrice"), a1, `missing property "netPrice"`},
		{"hero not MODEL_BASED", both(set(a0+"/type", "CATEGORY_BASED"), set(a0+"/categoryCode", "add_on")),
			a0 + "/type", "the hero device (first asset) must be MODEL_BASED"},
		{"hero without modelId", drop(a0 + "/modelId"), a0 + "/modelId", "required: the hero device (first asset) needs a modelId"},
		{"MODEL_BASED without modelId", both(set(a1+"/type", "MODEL_BASED"), drop(a1+"/categoryCode")),
			a1 + "/modelId", "required for a MODEL_BASED asset"},
		{"CATEGORY_BASED without categoryCode", both(set(a1+"/type", "CATEGORY_BASED"), drop(a1+"/categoryCode")),
			a1 + "/categoryCode", "required for a CATEGORY_BASED asset"},
		{"bad categoryCode", set(a1+"/categoryCode", "warranty"), a1 + "/categoryCode", `must be one of "add_on", "copying_fee", "shipping_fee"`},
		{"copying_fee outside Latvia", set(a1+"/categoryCode", "copying_fee"), a1 + "/categoryCode", `"copying_fee" is applicable only in Latvia (locale xx-LV)`},
		{"bad asset type", set(a1+"/type", "BUNDLE"), a1 + "/type", `must be one of "MODEL_BASED", "CATEGORY_BASED"`},
		{"missing period", drop("/rentalApplicationData/period"), "/rentalApplicationData", `missing property "period"`},
		{"partnerUrls without cancelUrl", set("/partnerUrls", urls("returnUrl", "r")), "/partnerUrls", `missing property "cancelUrl"`},
		{"partnerUrls without returnUrl", set("/partnerUrls", urls("cancelUrl", "c")), "/partnerUrls", `missing property "returnUrl"`},
		{"bad callbackUrl", set("/partnerUrls", map[string]any{"returnUrl": "https://shop.example/r", "cancelUrl": "https://shop.example/c", "callbackUrl": "shop.example/cb"}),
			"/partnerUrls/callbackUrl", "must be an absolute http(s) URL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := inbankBody(t)
			tc.mutate(d)
			rep := e.Do(http.MethodPost, "/partner/v3/shops/"+DefaultShopUUID+"/pos-sessions", d,
				"Authorization", "Bearer "+DefaultAPIKey)
			var got apiError
			rep.JSON(t, &got)
			if rep.Status != http.StatusBadRequest || got.Message != "validation_failed" {
				t.Fatalf("%d %s", rep.Status, rep.Body)
			}
			if want := (schemas.Problem{Pointer: tc.ptr, Message: tc.msg}); !slices.Contains(got.Details, want) {
				t.Errorf("no %v in %v", want, got.Details)
			}
			// The client refuses the same body with the same problems, before any call.
			raw, _ := json.Marshal(d)
			_, err := e.client.CreateSessionJSON(context.Background(), DefaultShopUUID, raw)
			if ps := schemas.Problems(err); !reflect.DeepEqual(ps, got.Details) {
				t.Errorf("client and sandbox disagree:\nclient  %v\nsandbox %v", ps, got.Details)
			}
		})
	}
	rep := e.Do(http.MethodGet, "/sandbox/inbank/sessions", nil)
	if strings.TrimSpace(string(rep.Body)) != "[]" {
		t.Errorf("invalid bodies created sessions: %s", rep.Body)
	}
}
