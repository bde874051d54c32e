package integration

import (
	"bytes"
	"encoding/base64"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/epcflow/epcflow/internal/httpserver"
	"github.com/epcflow/epcflow/internal/slowloris"
	"github.com/epcflow/epcflow/stack"
)

// TestListenersBoundSlowClientsAndDeliveriesStoreNothingForUnknownOrders: the stack's API and
// sandbox listeners cut off a body trickled one byte every 200 ms once the read timeout
// (here 1 s) has passed, and deliveries to orders that do not exist leave the blob store
// empty.
func TestListenersBoundSlowClientsAndDeliveriesStoreNothingForUnknownOrders(t *testing.T) {
	needsTemporal(t)
	dataDir := t.TempDir()
	e := startStack(t, stack.Config{DataDir: dataDir, HTTP: httpserver.Limits{ReadTimeout: time.Second, ReadHeaderTimeout: 500 * time.Millisecond}})
	for _, target := range []struct{ base, path string }{
		{e.st.APIURL, "/webhooks/epc"},
		{e.st.SandboxURL, "/sandbox/epc/transactions"},
	} {
		stop := make(chan struct{})
		timer := time.AfterFunc(30*time.Second, func() { close(stop) })
		res, err := slowloris.Trickle(slowloris.Request{
			Addr: strings.TrimPrefix(target.base, "http://"), Path: target.path, Header: []string{"Content-Type: application/json"},
			Size: 10_000, Interval: 200 * time.Millisecond,
		}, stop)
		timer.Stop()
		require.NoError(t, err)
		require.False(t, res.Stopped, "%s%s still reads a body trickled for 30 s (read timeout 1 s)", target.base, target.path)
	}

	report := bytes.Repeat([]byte("%PDF-1.7 report "), 5<<20/16)
	body := `{"appraisedValue":500000,"reportBase64":"` + base64.StdEncoding.EncodeToString(report) + `"}`
	for _, id := range []string{"no-such-order-1", "no-such-order-2", "no-such-order-3"} {
		resp, err := http.Post(e.st.APIURL+"/v1/transactions/"+id+"/deliver", "application/json", strings.NewReader(body))
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusNotFound, resp.StatusCode, id)
	}
	entries, err := os.ReadDir(filepath.Join(dataDir, "blobs"))
	require.NoError(t, err)
	for _, en := range entries {
		require.True(t, en.IsDir(), "a file was left in the blob store: %s", en.Name())
	}
}
