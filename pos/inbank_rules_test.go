package pos_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/epcflow/epcflow/internal/testkit"
	"github.com/epcflow/epcflow/pos"
	"github.com/epcflow/epcflow/schemas"
)

const (
	ibNonBlank = "must be a non-empty string (not blank)"
	ibHTTPURL  = "must be an absolute http(s) URL"
	ibAssets   = "/rentalApplicationData/assets"
	ibHero     = ibAssets + "/0"
	ibSecond   = ibAssets + "/1"
)

// ruleBody is a fixture of testdata (default: the minimal body) with mutate applied, the
// body a row of ruleCases sends.
func ruleBody(t testing.TB, fixture string, mutate func(d map[string]any)) []byte {
	t.Helper()
	if fixture == "" {
		fixture = "inbank-session-minimal.json"
	}
	var d map[string]any
	testkit.FixtureJSON(t, "pos/testdata/"+fixture, &d)
	mutate(d)
	return testkit.Encode(t, d)
}

// ruleCases has one row per seed-001 rule (and a few valid shapes). Shared by the fuzz
// target's seed corpus.
var ruleCases = []struct {
	name    string
	fixture string // default: the minimal body
	mutate  func(d map[string]any)
	want    []schemas.Problem // nil: valid
}{
	{name: "minimal body", mutate: func(map[string]any) {}},
	{name: "full body", fixture: "inbank-session-full.json", mutate: func(map[string]any) {}},
	{name: "copying_fee in Latvia, Russian language", fixture: "inbank-session-full.json", mutate: func(d map[string]any) {
		testkit.Set(d, "/locale", "ru-LV")
	}},
	{name: "string integrationInfo and additionalData", mutate: func(d map[string]any) {
		testkit.Set(d, "/integrationInfo", "ecom_platform=epcflow")
		testkit.Set(d, "/additionalData", "x")
	}},
	{name: "IPv6 userIp", mutate: func(d map[string]any) { testkit.Set(d, "/userIp", "2001:db8::1") }},
	{name: "partnerUrls without callbackUrl", mutate: func(d map[string]any) {
		testkit.Set(d, "/partnerUrls", map[string]any{"returnUrl": "https://s.example/r", "cancelUrl": "http://s.example/c?x=1"})
	}},

	{"missing productCode", "", func(d map[string]any) { testkit.Delete(d, "/productCode") },
		[]schemas.Problem{{Pointer: "", Message: `missing property "productCode"`}}},
	{"blank productCode", "", func(d map[string]any) { testkit.Set(d, "/productCode", " ") },
		[]schemas.Problem{{Pointer: "/productCode", Message: ibNonBlank}}},
	{"missing currency", "", func(d map[string]any) { testkit.Delete(d, "/currency") },
		[]schemas.Problem{{Pointer: "", Message: `missing property "currency"`}}},
	{"lowercase currency", "", func(d map[string]any) { testkit.Set(d, "/currency", "eur") },
		[]schemas.Problem{
			{Pointer: "/currency", Message: `must be an uppercase ISO 4217 currency code`},
			{Pointer: "/currency", Message: `must be one of "EUR"`},
		}},
	{"currency other than EUR", "", func(d map[string]any) { testkit.Set(d, "/currency", "USD") },
		[]schemas.Problem{{Pointer: "/currency", Message: `must be one of "EUR"`}}},
	{"missing locale", "", func(d map[string]any) { testkit.Delete(d, "/locale") },
		[]schemas.Problem{{Pointer: "", Message: `missing property "locale"`}}},
	{"locale without country", "", func(d map[string]any) { testkit.Set(d, "/locale", "et") },
		[]schemas.Problem{{Pointer: "/locale", Message: `must be a language-country code xx-XX, such as "et-EE"`}}},
	{"locale with wrong case", "", func(d map[string]any) { testkit.Set(d, "/locale", "ET-ee") },
		[]schemas.Problem{{Pointer: "/locale", Message: `must be a language-country code xx-XX, such as "et-EE"`}}},
	{"validUntil not a date-time", "", func(d map[string]any) { testkit.Set(d, "/validUntil", "2021-02-17 11:10") },
		[]schemas.Problem{{Pointer: "/validUntil", Message: "must be a valid date-time"}}},
	{"userIp not an address", "", func(d map[string]any) { testkit.Set(d, "/userIp", "localhost") },
		[]schemas.Problem{{Pointer: "/userIp", Message: "must be an IPv4 or IPv6 address"}}},
	{"customerData without identityCode", "inbank-session-full.json", func(d map[string]any) { testkit.Delete(d, "/customerData/identityCode") },
		[]schemas.Problem{{Pointer: "/customerData", Message: `missing property "identityCode"`}}},
	{"customerData without names", "inbank-session-full.json", func(d map[string]any) {
		testkit.Delete(d, "/customerData/firstName")
		testkit.Delete(d, "/customerData/lastName")
	}, []schemas.Problem{
		{Pointer: "/customerData", Message: `missing property "firstName"`},
		{Pointer: "/customerData", Message: `missing property "lastName"`},
	}},
	{"customerData null", "", func(d map[string]any) { testkit.Set(d, "/customerData", nil) },
		[]schemas.Problem{{Pointer: "/customerData", Message: "must be of type object, got null"}}},
	{"customerData with an unknown key", "inbank-session-full.json", func(d map[string]any) { testkit.Set(d, "/customerData/age", 30) },
		[]schemas.Problem{{Pointer: "/customerData", Message: `property "age" is not allowed`}}},
	{"gender not m or f", "inbank-session-full.json", func(d map[string]any) { testkit.Set(d, "/customerData/gender", "x") },
		[]schemas.Problem{{Pointer: "/customerData/gender", Message: `must be one of "m", "f"`}}},
	{"customerContactData without mobile", "inbank-session-full.json", func(d map[string]any) { testkit.Delete(d, "/customerContactData/mobile") },
		[]schemas.Problem{{Pointer: "/customerContactData", Message: `missing property "mobile"`}}},
	{"customerContactData without email", "", func(d map[string]any) {
		testkit.Set(d, "/customerContactData", map[string]any{"mobile": "+3725000000"})
	}, []schemas.Problem{{Pointer: "/customerContactData", Message: `missing property "email"`}}},
	{"bad email", "inbank-session-full.json", func(d map[string]any) { testkit.Set(d, "/customerContactData/email", "anna") },
		[]schemas.Problem{{Pointer: "/customerContactData/email", Message: "must be a valid email"}}},
	{"missing purchase", "", func(d map[string]any) { testkit.Delete(d, "/purchase") },
		[]schemas.Problem{{Pointer: "", Message: `missing property "purchase"`}}},
	{"missing purchase.description", "", func(d map[string]any) { testkit.Delete(d, "/purchase/description") },
		[]schemas.Problem{{Pointer: "/purchase", Message: `missing property "description"`}}},
	{"merchant without merchantDomainName", "inbank-session-full.json", func(d map[string]any) {
		testkit.Delete(d, "/purchase/merchant/0/merchantDomainName")
	}, []schemas.Problem{{Pointer: "/purchase/merchant/0", Message: `missing property "merchantDomainName"`}}},
	{"merchant without merchantOrderReference", "inbank-session-full.json", func(d map[string]any) {
		testkit.Delete(d, "/purchase/merchant/0/merchantOrderReference")
	}, []schemas.Problem{{Pointer: "/purchase/merchant/0", Message: `missing property "merchantOrderReference"`}}},
	{"missing rentalApplicationData", "", func(d map[string]any) { testkit.Delete(d, "/rentalApplicationData") },
		[]schemas.Problem{{Pointer: "", Message: `missing property "rentalApplicationData"`}}},
	{"missing assets", "", func(d map[string]any) { testkit.Delete(d, ibAssets) },
		[]schemas.Problem{{Pointer: "/rentalApplicationData", Message: `missing property "assets"`}}},
	{"empty assets", "", func(d map[string]any) { testkit.Set(d, ibAssets, []any{}) },
		[]schemas.Problem{{Pointer: ibAssets, Message: "must have at least 1 item"}}},
	{"asset without modelName and netPrice", "", func(d map[string]any) {
		testkit.Delete(d, ibSecond+"/modelName")
		testkit.Delete(d, ibSecond+"/netPrice")
	}, []schemas.Problem{
		{Pointer: ibSecond, Message: `missing property "modelName"`},
		{Pointer: ibSecond, Message: `missing property "netPrice"`},
	}},
	{"negative netPrice", "", func(d map[string]any) { testkit.Set(d, ibHero+"/netPrice", -1) },
		[]schemas.Problem{{Pointer: ibHero + "/netPrice", Message: "must be >= 0"}}},
	{"hero device CATEGORY_BASED", "", func(d map[string]any) {
		testkit.Set(d, ibHero+"/type", "CATEGORY_BASED")
		testkit.Set(d, ibHero+"/categoryCode", "add_on")
	}, []schemas.Problem{{Pointer: ibHero + "/type", Message: "the hero device (first asset) must be MODEL_BASED"}}},
	{"hero device without a type", "", func(d map[string]any) { testkit.Delete(d, ibHero+"/type") },
		[]schemas.Problem{{Pointer: ibHero + "/type", Message: "the hero device (first asset) must be MODEL_BASED (type defaults to CATEGORY_BASED)"}}},
	{"hero device without modelId", "", func(d map[string]any) { testkit.Delete(d, ibHero+"/modelId") },
		[]schemas.Problem{{Pointer: ibHero + "/modelId", Message: "required: the hero device (first asset) needs a modelId"}}},
	{"hero device not first", "", func(d map[string]any) {
		a := d["rentalApplicationData"].(map[string]any)["assets"].([]any)
		a[0], a[1] = a[1], a[0]
	}, []schemas.Problem{
		{Pointer: ibHero + "/modelId", Message: "required: the hero device (first asset) needs a modelId"},
		{Pointer: ibHero + "/type", Message: "the hero device (first asset) must be MODEL_BASED (type defaults to CATEGORY_BASED)"},
	}},
	{"MODEL_BASED asset without modelId", "", func(d map[string]any) {
		testkit.Set(d, ibSecond, map[string]any{"type": "MODEL_BASED", "modelName": "Watch", "netPrice": 100})
	}, []schemas.Problem{{Pointer: ibSecond + "/modelId", Message: "required for a MODEL_BASED asset"}}},
	{"CATEGORY_BASED asset without categoryCode", "", func(d map[string]any) {
		testkit.Set(d, ibSecond+"/type", "CATEGORY_BASED")
		testkit.Delete(d, ibSecond+"/categoryCode")
	}, []schemas.Problem{{Pointer: ibSecond + "/categoryCode", Message: "required for a CATEGORY_BASED asset"}}},
	{"untyped asset without categoryCode", "", func(d map[string]any) { testkit.Delete(d, ibSecond+"/categoryCode") },
		[]schemas.Problem{{Pointer: ibSecond + "/categoryCode", Message: "required for a CATEGORY_BASED asset (type defaults to CATEGORY_BASED)"}}},
	{"unknown categoryCode", "", func(d map[string]any) { testkit.Set(d, ibSecond+"/categoryCode", "warranty") },
		[]schemas.Problem{{Pointer: ibSecond + "/categoryCode", Message: `must be one of "add_on", "copying_fee", "shipping_fee"`}}},
	{"numeric categoryCode", "", func(d map[string]any) { testkit.Set(d, ibSecond+"/categoryCode", 1) },
		[]schemas.Problem{{Pointer: ibSecond + "/categoryCode", Message: "must be of type string, got integer"}}},
	{"unknown asset type", "", func(d map[string]any) { testkit.Set(d, ibSecond+"/type", "model_based") },
		[]schemas.Problem{{Pointer: ibSecond + "/type", Message: `must be one of "MODEL_BASED", "CATEGORY_BASED"`}}},
	{"copying_fee outside Latvia", "", func(d map[string]any) { testkit.Set(d, ibSecond+"/categoryCode", "copying_fee") },
		[]schemas.Problem{{Pointer: ibSecond + "/categoryCode", Message: `"copying_fee" is applicable only in Latvia (locale xx-LV)`}}},
	{"insuranceUsed not a boolean", "", func(d map[string]any) { testkit.Set(d, "/rentalApplicationData/insuranceUsed", "yes") },
		[]schemas.Problem{{Pointer: "/rentalApplicationData/insuranceUsed", Message: "must be of type boolean, got string"}}},
	{"missing period", "", func(d map[string]any) { testkit.Delete(d, "/rentalApplicationData/period") },
		[]schemas.Problem{{Pointer: "/rentalApplicationData", Message: `missing property "period"`}}},
	{"period zero", "", func(d map[string]any) { testkit.Set(d, "/rentalApplicationData/period", 0) },
		[]schemas.Problem{{Pointer: "/rentalApplicationData/period", Message: "must be >= 1"}}},
	{"period not whole months", "", func(d map[string]any) { testkit.Set(d, "/rentalApplicationData/period", 1.5) },
		[]schemas.Problem{{Pointer: "/rentalApplicationData/period", Message: "must be of type integer, got number"}}},
	{"partnerUrls without cancelUrl", "inbank-session-full.json", func(d map[string]any) { testkit.Delete(d, "/partnerUrls/cancelUrl") },
		[]schemas.Problem{{Pointer: "/partnerUrls", Message: `missing property "cancelUrl"`}}},
	{"partnerUrls without returnUrl", "inbank-session-full.json", func(d map[string]any) { testkit.Delete(d, "/partnerUrls/returnUrl") },
		[]schemas.Problem{{Pointer: "/partnerUrls", Message: `missing property "returnUrl"`}}},
	{"relative returnUrl", "inbank-session-full.json", func(d map[string]any) { testkit.Set(d, "/partnerUrls/returnUrl", "/return") },
		[]schemas.Problem{{Pointer: "/partnerUrls/returnUrl", Message: ibHTTPURL}}},
	{"callbackUrl not http", "inbank-session-full.json", func(d map[string]any) { testkit.Set(d, "/partnerUrls/callbackUrl", "ftp://x/cb") },
		[]schemas.Problem{{Pointer: "/partnerUrls/callbackUrl", Message: ibHTTPURL}}},
	{"integrationInfo a number", "", func(d map[string]any) { testkit.Set(d, "/integrationInfo", 7) },
		[]schemas.Problem{{Pointer: "/integrationInfo", Message: "must be of type string or object, got integer"}}},
	{"unknown top-level property", "", func(d map[string]any) { testkit.Set(d, "/shopUuid", "a93f1f44-d5dd-4469-bfcc-c1de9e969213") },
		[]schemas.Problem{{Pointer: "", Message: `property "shopUuid" is not allowed`}}},

	{"every problem at once, sorted by pointer", "", func(d map[string]any) {
		testkit.Set(d, "/currency", "USD")
		testkit.Delete(d, "/purchase/description")
		testkit.Delete(d, ibHero+"/modelId")
		testkit.Set(d, "/rentalApplicationData/period", 0)
		a := d["rentalApplicationData"].(map[string]any)["assets"].([]any)
		for range 9 {
			a = append(a, map[string]any{"modelName": "Extra", "netPrice": 1})
		}
		d["rentalApplicationData"].(map[string]any)["assets"] = a
		testkit.Set(d, "/partnerUrls", map[string]any{"returnUrl": "https://s.example/r"})
	}, []schemas.Problem{
		{Pointer: "/currency", Message: `must be one of "EUR"`},
		{Pointer: "/partnerUrls", Message: `missing property "cancelUrl"`},
		{Pointer: "/purchase", Message: `missing property "description"`},
		{Pointer: ibHero + "/modelId", Message: "required: the hero device (first asset) needs a modelId"},
		{Pointer: ibAssets + "/2/categoryCode", Message: "required for a CATEGORY_BASED asset (type defaults to CATEGORY_BASED)"},
		{Pointer: ibAssets + "/3/categoryCode", Message: "required for a CATEGORY_BASED asset (type defaults to CATEGORY_BASED)"},
		{Pointer: ibAssets + "/4/categoryCode", Message: "required for a CATEGORY_BASED asset (type defaults to CATEGORY_BASED)"},
		{Pointer: ibAssets + "/5/categoryCode", Message: "required for a CATEGORY_BASED asset (type defaults to CATEGORY_BASED)"},
		{Pointer: ibAssets + "/6/categoryCode", Message: "required for a CATEGORY_BASED asset (type defaults to CATEGORY_BASED)"},
		{Pointer: ibAssets + "/7/categoryCode", Message: "required for a CATEGORY_BASED asset (type defaults to CATEGORY_BASED)"},
		{Pointer: ibAssets + "/8/categoryCode", Message: "required for a CATEGORY_BASED asset (type defaults to CATEGORY_BASED)"},
		{Pointer: ibAssets + "/9/categoryCode", Message: "required for a CATEGORY_BASED asset (type defaults to CATEGORY_BASED)"},
		{Pointer: ibAssets + "/10/categoryCode", Message: "required for a CATEGORY_BASED asset (type defaults to CATEGORY_BASED)"},
		{Pointer: "/rentalApplicationData/period", Message: "must be >= 1"},
	}},
}

func TestValidateSessionRequestRules(t *testing.T) {
	for _, tc := range ruleCases {
		t.Run(tc.name, func(t *testing.T) {
			err := pos.ValidateSessionRequest(ruleBody(t, tc.fixture, tc.mutate))
			if tc.want == nil {
				if err != nil {
					t.Fatalf("want valid, got %v", err)
				}
				return
			}
			if !errors.Is(err, schemas.ErrInvalid) {
				t.Fatalf("want a *schemas.ValidationError, got %v", err)
			}
			var ve *schemas.ValidationError
			if !errors.As(err, &ve) || ve.Schema != schemas.InbankPOSSession {
				t.Fatalf("error %T %v does not name schema %s", err, err, schemas.InbankPOSSession)
			}
			if got := schemas.Problems(err); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("problems:\n got %v\nwant %v", got, tc.want)
			}
		})
	}
}

func TestValidateSessionRequestMalformed(t *testing.T) {
	for _, body := range []string{``, `{`, `[]`, `"x"`, `{} {}`} {
		err := pos.ValidateSessionRequest([]byte(body))
		ps := schemas.Problems(err)
		if len(ps) == 0 {
			t.Errorf("%q: want problems, got %v", body, err)
			continue
		}
		if ps[0].Pointer != "" {
			t.Errorf("%q: first problem at %q, want the root", body, ps[0].Pointer)
		}
	}
}

// The typed request round-trips to a valid body, and its zero-valued optional members stay
// out of the JSON (so the "when present, required" rules never fire by accident).
func TestTypedSessionRequest(t *testing.T) {
	for _, f := range []string{"inbank-session-minimal.json", "inbank-session-full.json"} {
		raw := testkit.Fixture(t, "pos/testdata/"+f)
		req, err := pos.ParseSessionRequest(raw)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if err := req.Validate(); err != nil {
			t.Errorf("%s as InbankSessionRequest: %v", f, err)
		}
		var a, b any
		_ = json.Unmarshal(raw, &a)
		_ = json.Unmarshal(testkit.Encode(t, req), &b)
		if !reflect.DeepEqual(a, b) {
			t.Errorf("%s does not round-trip:\n got %s\nwant %s", f, testkit.Encode(t, b), testkit.Encode(t, a))
		}
	}
	req, err := pos.ParseSessionRequest([]byte(`{"productCode":"x"}`))
	if err == nil || len(schemas.Problems(err)) < 4 {
		t.Errorf("ParseSessionRequest of a partial body: %v (%+v)", err, req)
	}
	full, _ := pos.ParseSessionRequest(testkit.Fixture(t, "pos/testdata/inbank-session-full.json"))
	if want := time.Date(2026, 3, 1, 12, 10, 0, 0, time.UTC); !full.ValidUntil.Equal(want) {
		t.Errorf("validUntil = %v, want %v", full.ValidUntil, want)
	}
	// A zero request names what is missing rather than sending empty strings.
	err = pos.InbankSessionRequest{}.Validate()
	want := []schemas.Problem{
		{Pointer: "", Message: `missing property "currency"`},
		{Pointer: "", Message: `missing property "locale"`},
		{Pointer: "", Message: `missing property "productCode"`},
		{Pointer: "/purchase", Message: `missing property "description"`},
		{Pointer: "/rentalApplicationData", Message: `missing property "assets"`},
		{Pointer: "/rentalApplicationData/period", Message: "must be >= 1"},
	}
	if got := schemas.Problems(err); !reflect.DeepEqual(got, want) {
		t.Errorf("zero request:\n got %v\nwant %v", got, want)
	}
}

func TestStatuses(t *testing.T) {
	final := map[pos.InbankStatus]bool{pos.StatusCompleted: true, pos.StatusCancelled: true, pos.StatusDeclined: true, pos.StatusExpired: true}
	for _, s := range pos.InbankStatuses() {
		if !s.Known() {
			t.Errorf("%s not known", s)
		}
		if s.IsFinal() != final[s] {
			t.Errorf("%s.IsFinal() = %v", s, s.IsFinal())
		}
	}
	if pos.InbankStatus("paid").Known() || pos.InbankStatus("paid").IsFinal() {
		t.Error("an unknown status is neither known nor final")
	}
}

// FuzzValidateSessionRequest: any input gives nil or a *schemas.ValidationError whose
// pointers are well-formed; never a panic.
func FuzzValidateSessionRequest(f *testing.F) {
	for _, tc := range ruleCases {
		f.Add(ruleBody(f, tc.fixture, tc.mutate))
	}
	f.Add([]byte(`{"rentalApplicationData":{"assets":[null,1,"x",{"type":7}]},"locale":"lv-LV"}`))
	f.Add([]byte(`{"rentalApplicationData":{"assets":{}}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		err := pos.ValidateSessionRequest(body)
		if err == nil {
			return
		}
		var ve *schemas.ValidationError
		if !errors.As(err, &ve) || len(ve.Problems) == 0 {
			t.Fatalf("not a validation error with problems: %v", err)
		}
		for _, p := range ve.Problems {
			if p.Pointer != "" && !strings.HasPrefix(p.Pointer, "/") {
				t.Fatalf("bad pointer %q", p.Pointer)
			}
			if p.Message == "" {
				t.Fatalf("problem at %q has no message", p.Pointer)
			}
		}
	})
}
