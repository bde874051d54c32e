package epc

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/epcflow/epcflow/internal/testkit"
)

// TestTransactionRoundTrip: seed 002's transaction decoded and encoded again loses nothing.
func TestTransactionRoundTrip(t *testing.T) {
	orig := testkit.Fixture(t, "epc/testdata/transaction.json")

	var tx Transaction
	require.NoError(t, json.Unmarshal(orig, &tx))
	require.Equal(t, "0bf34a40-8ca1-4b58-8cbc-dd6b9f67dc63", tx.ID)
	require.Equal(t, "p@s$w0rd", tx.Request.Credentials.Password)
	require.Len(t, tx.Events, 4)
	require.Equal(t, "elli-signature 4D5ABB6321901B871A37DC04C7080DC26CDFB58F5186B6D006195498FE5A0F389E8ADBAF827DF59A756F3E13FE151DABF1D7CC6779DE58B9D40112129256111D", tx.Events[2].Resources[0].Authorization)

	again, err := json.Marshal(tx)
	require.NoError(t, err)

	var want, got any
	require.NoError(t, json.Unmarshal(orig, &want))
	require.NoError(t, json.Unmarshal(again, &got))
	require.Equal(t, want, got)
}

// TestCredentialsNeverPrinted guards the fmt escape hatches around request.credentials.
func TestCredentialsNeverPrinted(t *testing.T) {
	c := Credentials{Username: "donaldd", Password: "p@s$w0rd"}
	for _, s := range []string{c.String(), c.GoString()} {
		require.False(t, strings.Contains(s, c.Password), s)
	}
}
