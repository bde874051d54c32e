package api

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestSafeNext(t *testing.T) {
	tests := []struct {
		next string
		ok   bool
	}{
		{"/portal/packages/p/recipients/r/open", true},
		{"/portal/", true},
		{"/portal/x?y=1", true},
		{"/portal", false},
		{"/v1/packages", false},
		{"https://evil.example/portal/", false},
		{"//evil.example/portal/", false},
		{"/portal//evil.example", false},
		{"/portal/../v1/packages", false},
		{"/portal/./x", false},
		{"/portal/\\evil", false},
		{"/portal/x\r\nSet-Cookie: a=b", false},
	}
	for _, tc := range tests {
		t.Run(tc.next, func(t *testing.T) {
			require.Equal(t, tc.ok, safeNext(tc.next))
		})
	}
}

func TestDeliveryNeedsItsParts(t *testing.T) {
	err := (&Delivery{PortalBaseURL: "not a url"}).check()
	require.EqualError(t, err, "api: Delivery: Verifier, Portal, Engine, DeliveryRoom, Secret required")
}

func TestSignInURL(t *testing.T) {
	require.Equal(t, "https://api.example/portal/signin?next=%2Fportal%2Fpackages%2Fp%252F1%2Frecipients%2Fr%2Fopen&token=pt_x",
		SignInURL("https://api.example/", "pt_x", OpenURLPath("p/1", "r")))
	require.Equal(t, "/portal/packages/p%2F1/recipients/r/open", OpenURLPath("p/1", "r"))
}
