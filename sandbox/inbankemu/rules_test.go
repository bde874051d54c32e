package inbankemu

import (
	"context"
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/epcflow/epcflow/sandbox/internal/sbtest"
	"github.com/epcflow/epcflow/schemas"
)

func inbankBody(t *testing.T) map[string]any {
	var d map[string]any
	if err := json.Unmarshal(sbtest.Fixture(t, minimal), &d); err != nil {
		t.Fatal(err)
	}
	return d
}

func obj(d map[string]any, keys ...string) map[string]any {
	for _, k := range keys {
		d = d[k].(map[string]any)
	}
	return d
}

func asset(d map[string]any, i int) map[string]any {
	return obj(d, "rentalApplicationData")["assets"].([]any)[i].(map[string]any)
}

// One row per seed-001 rule: the sandbox answers 400 with the problem at its pointer, and
// the client refuses the same body with the same problems before calling.
func TestInbankValidationRules(t *testing.T) {
	e := newEnv(t, nil)
	const a0, a1 = "/rentalApplicationData/assets/0", "/rentalApplicationData/assets/1"
	for _, tc := range []struct {
		name   string
		mutate func(d map[string]any)
		want   schemas.Problem
	}{
		{"missing productCode", func(d map[string]any) { delete(d, "productCode") },
			schemas.Problem{Pointer: "", Message: `missing property "productCode"`}},
		{"lowercase currency", func(d map[string]any) { d["currency"] = "eur" },
			schemas.Problem{Pointer: "/currency", Message: "must be an uppercase ISO 4217 currency code"}},
		{"currency other than EUR", func(d map[string]any) { d["currency"] = "USD" },
			schemas.Problem{Pointer: "/currency", Message: `must be one of "EUR"`}},
		{"missing locale", func(d map[string]any) { delete(d, "locale") },
			schemas.Problem{Pointer: "", Message: `missing property "locale"`}},
		{"bad locale", func(d map[string]any) { d["locale"] = "estonian" },
			schemas.Problem{Pointer: "/locale", Message: `must be a language-country code xx-XX, such as "et-EE"`}},
		{"bad validUntil", func(d map[string]any) { d["validUntil"] = "tomorrow" },
			schemas.Problem{Pointer: "/validUntil", Message: "must be a valid date-time"}},
		{"customerData without identityCode", func(d map[string]any) {
			d["customerData"] = map[string]any{"firstName": "Anna", "lastName": "Ozola"}
		}, schemas.Problem{Pointer: "/customerData", Message: `missing property "identityCode"`}},
		{"customerData without firstName", func(d map[string]any) {
			d["customerData"] = map[string]any{"identityCode": "1", "lastName": "Ozola"}
		}, schemas.Problem{Pointer: "/customerData", Message: `missing property "firstName"`}},
		{"customerData without lastName", func(d map[string]any) {
			d["customerData"] = map[string]any{"identityCode": "1", "firstName": "Anna"}
		}, schemas.Problem{Pointer: "/customerData", Message: `missing property "lastName"`}},
		{"customerContactData without mobile", func(d map[string]any) {
			d["customerContactData"] = map[string]any{"email": "anna@example.com"}
		}, schemas.Problem{Pointer: "/customerContactData", Message: `missing property "mobile"`}},
		{"customerContactData without email", func(d map[string]any) {
			d["customerContactData"] = map[string]any{"mobile": "+37255555555"}
		}, schemas.Problem{Pointer: "/customerContactData", Message: `missing property "email"`}},
		{"missing purchase", func(d map[string]any) { delete(d, "purchase") },
			schemas.Problem{Pointer: "", Message: `missing property "purchase"`}},
		{"missing purchase.description", func(d map[string]any) { delete(obj(d, "purchase"), "description") },
			schemas.Problem{Pointer: "/purchase", Message: `missing property "description"`}},
		{"merchant without merchantOrderReference", func(d map[string]any) {
			obj(d, "purchase")["merchant"] = []any{map[string]any{"merchantDomainName": "shop.example"}}
		}, schemas.Problem{Pointer: "/purchase/merchant/0", Message: `missing property "merchantOrderReference"`}},
		{"missing rentalApplicationData", func(d map[string]any) { delete(d, "rentalApplicationData") },
			schemas.Problem{Pointer: "", Message: `missing property "rentalApplicationData"`}},
		{"missing assets", func(d map[string]any) { delete(obj(d, "rentalApplicationData"), "assets") },
			schemas.Problem{Pointer: "/rentalApplicationData", Message: `missing property "assets"`}},
		{"asset without modelName", func(d map[string]any) { delete(asset(d, 1), "modelName") },
			schemas.Problem{Pointer: a1, Message: `missing property "modelName"`}},
		{"asset without netPrice", func(d map[string]any) { delete(asset(d, 1), "netPrice") },
			schemas.Problem{Pointer: a1, Message: `missing property "netPrice"`}},
		{"hero not MODEL_BASED", func(d map[string]any) {
			asset(d, 0)["type"] = "CATEGORY_BASED"
			asset(d, 0)["categoryCode"] = "add_on"
		}, schemas.Problem{Pointer: a0 + "/type", Message: "the hero device (first asset) must be MODEL_BASED"}},
		{"hero without modelId", func(d map[string]any) { delete(asset(d, 0), "modelId") },
			schemas.Problem{Pointer: a0 + "/modelId", Message: "required: the hero device (first asset) needs a modelId"}},
		{"MODEL_BASED without modelId", func(d map[string]any) {
			asset(d, 1)["type"] = "MODEL_BASED"
			delete(asset(d, 1), "categoryCode")
		}, schemas.Problem{Pointer: a1 + "/modelId", Message: "required for a MODEL_BASED asset"}},
		{"CATEGORY_BASED without categoryCode", func(d map[string]any) {
			asset(d, 1)["type"] = "CATEGORY_BASED"
			delete(asset(d, 1), "categoryCode")
		}, schemas.Problem{Pointer: a1 + "/categoryCode", Message: "required for a CATEGORY_BASED asset"}},
		{"bad categoryCode", func(d map[string]any) { asset(d, 1)["categoryCode"] = "warranty" },
			schemas.Problem{Pointer: a1 + "/categoryCode", Message: `must be one of "add_on", "copying_fee", "shipping_fee"`}},
		{"copying_fee outside Latvia", func(d map[string]any) { asset(d, 1)["categoryCode"] = "copying_fee" },
			schemas.Problem{Pointer: a1 + "/categoryCode", Message: `"copying_fee" is applicable only in Latvia (locale xx-LV)`}},
		{"bad asset type", func(d map[string]any) { asset(d, 1)["type"] = "BUNDLE" },
			schemas.Problem{Pointer: a1 + "/type", Message: `must be one of "MODEL_BASED", "CATEGORY_BASED"`}},
		{"missing period", func(d map[string]any) { delete(obj(d, "rentalApplicationData"), "period") },
			schemas.Problem{Pointer: "/rentalApplicationData", Message: `missing property "period"`}},
		{"partnerUrls without cancelUrl", func(d map[string]any) {
			d["partnerUrls"] = map[string]any{"returnUrl": "https://shop.example/r"}
		}, schemas.Problem{Pointer: "/partnerUrls", Message: `missing property "cancelUrl"`}},
		{"partnerUrls without returnUrl", func(d map[string]any) {
			d["partnerUrls"] = map[string]any{"cancelUrl": "https://shop.example/c"}
		}, schemas.Problem{Pointer: "/partnerUrls", Message: `missing property "returnUrl"`}},
		{"bad callbackUrl", func(d map[string]any) {
			d["partnerUrls"] = map[string]any{"returnUrl": "https://shop.example/r", "cancelUrl": "https://shop.example/c", "callbackUrl": "shop.example/cb"}
		}, schemas.Problem{Pointer: "/partnerUrls/callbackUrl", Message: "must be an absolute http(s) URL"}},
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
			found := false
			for _, p := range got.Details {
				found = found || p == tc.want
			}
			if !found {
				t.Errorf("no %v in %v", tc.want, got.Details)
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
