package epc

import (
	"bytes"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestUploadBytes(t *testing.T) {
	f := newFake(t, nil)
	st := newStorage(t)
	c, logs := newTestClient(t, f.URL)
	slot := Resource{
		ID:            "s1",
		Name:          "AppraisalReport.pdf",
		MimeType:      "application/pdf",
		Location:      st.URL + "/v1/clients/3010000024/fb276d5f?validity=MTU4OTk0NzYwMzY3OQ%3D%3D",
		Authorization: "elli-signature 4D5ABB6321901B871A37",
	}
	data := []byte("%PDF-1.7 report bytes")
	require.NoError(t, c.UploadBytes(testCtx(t), slot, bytes.NewReader(data), int64(len(data))))

	puts, lengths := st.recorded()
	require.Len(t, puts, 1)
	put := puts[0]
	require.Equal(t, "PUT", put.Method)
	require.Equal(t, "/v1/clients/3010000024/fb276d5f?validity=MTU4OTk0NzYwMzY3OQ%3D%3D", put.URI)
	require.Equal(t, []string{"elli-signature 4D5ABB6321901B871A37"}, put.Header.Values("Authorization"))
	require.Equal(t, "application/pdf", put.Header.Get("Content-Type"))
	require.Equal(t, data, put.Body)
	require.Equal(t, int64(len(data)), lengths[0])
	require.Zero(t, f.tokens(), "an upload needs no EPC token")
	require.NotContains(t, logs.String(), "validity")
	require.Contains(t, logs.String(), "path=/v1/clients/3010000024/fb276d5f")

	t.Run("storage refuses", func(t *testing.T) {
		st.mu.Lock()
		st.status = http.StatusForbidden
		st.mu.Unlock()
		err := c.UploadBytes(testCtx(t), slot, bytes.NewReader(data), int64(len(data)))
		require.Equal(t, 403, StatusOf(err))
		require.False(t, IsRetryable(err))
		require.NotContains(t, err.Error(), "validity")
		require.NotContains(t, err.Error(), "4D5ABB")
	})
}

func TestUploadResource(t *testing.T) {
	st := newStorage(t)
	f := newFake(t, replyJSON(201, `[{"id":"slot-1","name":"report.pdf","mimeType":"application/pdf","location":"`+
		st.URL+`/v1/clients/3010000024/slot-1?validity=abc%3D%3D","authorization":"elli-signature DEADBEEF"}]`))
	c, _ := newTestClient(t, f.URL)
	data := []byte("%PDF-1.7")
	res, err := c.UploadResource(testCtx(t), "tx-1", "report.pdf", "application/pdf", data)
	require.NoError(t, err)
	require.Equal(t, Resource{ID: "slot-1", Name: "report.pdf", MimeType: "application/pdf"}, res)

	calls := f.recorded()
	require.Len(t, calls, 1)
	require.Equal(t, "/partner/v2/transactions/tx-1/response/resources", calls[0].URI)
	puts, _ := st.recorded()
	require.Len(t, puts, 1)
	require.Equal(t, data, puts[0].Body)
	require.Equal(t, "elli-signature DEADBEEF", puts[0].Header.Get("Authorization"))

	t.Run("wrong slot count", func(t *testing.T) {
		f := newFake(t, replyJSON(201, `[]`))
		c, _ := newTestClient(t, f.URL)
		_, err := c.UploadResource(testCtx(t), "tx-1", "report.pdf", "application/pdf", data)
		require.ErrorContains(t, err, "0 upload slots, want 1")
	})
}
