package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/epcflow/epcflow/stack"
)

// TestDeliveryRoomThroughTheStack: a package created in the sandbox reaches /v1/packages on the
// stack's API; the recipient's portal link signs the user in and leads to a Delivery Room page.
func TestDeliveryRoomThroughTheStack(t *testing.T) {
	e := sharedEnv(t)
	ctx := ctxFor(t, time.Minute)
	body := `{"instanceId":"BE11172718","groupNamespace":"loans","groupId":"bd751bb3-0c26-407a-8846-8219bdda01a9","packageId":"pkg-stack-1",
	  "recipients":[{"recipientId":"r1","firstName":"Donald","lastName":"Duck","email":"donald@example.com","role":"borrower"}]}`
	var created struct {
		Partner struct {
			Status int `json:"status"`
			Body   struct {
				Recipients []struct {
					RecipientID string `json:"recipientId"`
					PortalURL   string `json:"portalUrl"`
				} `json:"recipients"`
			} `json:"body"`
		} `json:"partner"`
	}
	postJSON(t, ctx, e.st.SandboxURL+"/sandbox/pos/packages", body, &created)
	require.Equal(t, http.StatusOK, created.Partner.Status)
	require.Len(t, created.Partner.Body.Recipients, 1)
	portalURL := created.Partner.Body.Recipients[0].PortalURL
	require.True(t, strings.HasPrefix(portalURL, e.st.APIURL+"/portal/signin"), portalURL)

	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, portalURL, nil)
	resp, err := browser.Do(req)
	require.NoError(t, err)
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, string(page))
	require.Contains(t, resp.Request.URL.Path, "/deliveryroom/")
	require.Contains(t, string(page), "Delivery Room")
}

// TestPaymentSessionThroughTheStack: a payment session created on the stack's API completes when
// the customer pays in the sandbox, the callback only triggering a confirmed read.
func TestPaymentSessionThroughTheStack(t *testing.T) {
	e := sharedEnv(t)
	ctx := ctxFor(t, time.Minute)
	body := `{"shopUuid":"a93f1f44-d5dd-4469-bfcc-c1de9e969213","productCode":"smart_rent","currency":"EUR","locale":"et-EE",
	  "purchase":{"description":"Appraisal fee"},"partnerUrls":{"returnUrl":"https://partner.example/ok","cancelUrl":"https://partner.example/cancel"},
	  "rentalApplicationData":{"assets":[{"type":"MODEL_BASED","modelId":"m1","modelName":"Phone","netPrice":100}],"period":12}}`
	var created struct {
		ID             string `json:"id"`
		POSSessionUUID string `json:"posSessionUuid"`
		RedirectURL    string `json:"redirectUrl"`
		Status         string `json:"status"`
	}
	postJSON(t, ctx, e.st.APIURL+"/v1/payment-sessions", body, &created)
	require.Equal(t, "pending", created.Status)
	require.NotEmpty(t, created.RedirectURL)

	postJSON(t, ctx, e.st.SandboxURL+"/sandbox/inbank/sessions/"+created.POSSessionUUID+"/complete", `{}`, nil)
	var final struct {
		Status string `json:"status"`
	}
	require.NoError(t, e.st.Client.GetWorkflow(ctx, "payment-session-"+created.ID, "").Get(ctx, &final))
	require.Equal(t, "completed", final.Status)
}

func postJSON(t *testing.T, ctx context.Context, url, body string, out any) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader([]byte(body)))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	require.Less(t, resp.StatusCode, 300, "POST %s: %d %s", url, resp.StatusCode, b)
	if out != nil {
		require.NoError(t, json.Unmarshal(b, out), string(b))
	}
}

var _ = stack.Config{}
