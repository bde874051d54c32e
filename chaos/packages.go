package chaos

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"time"

	"go.temporal.io/api/workflowservice/v1"

	"github.com/epcflow/epcflow/pos"
	"github.com/epcflow/epcflow/sandbox"
	"github.com/epcflow/epcflow/workflows"
)

// packageSends is how often the platform sends each package's Create Package Event: resends
// must land on the one workflow and get the one answer.
const packageSends = 3

// pkgOrder is one Delivery Room package and what became of it.
type pkgOrder struct {
	n   int
	id  string // packageId
	key string // pos.PackageEvent.Key

	answers []string // the portal link answered to each send
	result  workflows.PackageStatus
	err     error // the package's workflow could not be awaited
	openErr error // the recipient never reached the Delivery Room
}

// packageEvent is the i-th package's Create Package Event, as the POS Framework sends it.
func packageEvent(i int) (body []byte, key string) {
	ev := pos.PackageEvent{
		InstanceID: "BE11172718", GroupNamespace: "loans", GroupID: "bd751bb3-0c26-407a-8846-8219bdda01a9",
		PackageID: fmt.Sprintf("chaos-pkg-%04d", i),
		Recipients: []pos.Recipient{{
			RecipientID: "r1", FirstName: "Donald", LastName: "Duck",
			Email: fmt.Sprintf("borrower-%04d@example.com", i), Role: "borrower",
		}},
	}
	body, _ = json.Marshal(ev)
	return body, ev.Key()
}

// placePackages starts the packages at an eighth of the order rate, alongside the orders,
// handing each to add.
func (r *runner) placePackages(ctx context.Context, add func(*pkgOrder)) error {
	if r.cfg.Packages <= 0 {
		return nil
	}
	err := pace(ctx, r.cfg.Packages, time.Duration(float64(8*time.Second)/r.cfg.Rate), func(i int) error {
		_, key := packageEvent(i + 1)
		add(&pkgOrder{n: i + 1, id: fmt.Sprintf("chaos-pkg-%04d", i+1), key: key})
		return nil
	})
	if err == nil {
		r.log.printf("all %d Delivery Room packages sent", r.cfg.Packages)
	}
	return err
}

// followPackage sends the package's event packageSends times, has its recipient open it
// through the portal, and waits for its workflow to end.
func (r *runner) followPackage(ctx context.Context, p *pkgOrder) {
	body, _ := packageEvent(p.n)
	for range packageSends {
		link, err := r.sendPackage(ctx, body)
		if err != nil {
			p.openErr = err
			break
		}
		p.answers = append(p.answers, link)
	}
	if p.openErr == nil {
		p.openErr = r.openPackage(ctx, p.answers[0])
	}
	p.result, p.err = r.awaitPackage(ctx, p.key)
}

// sendPackage has the POS Framework send the event (the sandbox retries on its own) until
// epcflow answers it, as the platform keeps trying; it returns the recipient's portal link.
func (r *runner) sendPackage(ctx context.Context, body []byte) (string, error) {
	backoff := 200 * time.Millisecond
	var last error
	for {
		link, err := r.postPackage(ctx, body)
		if err == nil {
			return link, nil
		}
		last = err
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("package event never answered: %w (last: %v)", ctx.Err(), last)
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 2*time.Second)
	}
}

func (r *runner) postPackage(ctx context.Context, body []byte) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.sandboxURL+"/sandbox/pos/packages", bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		return "", fmt.Errorf("POS package event: %d %s", resp.StatusCode, strings.TrimSpace(string(b)))
	}
	var (
		reply  sandbox.PackageReply
		answer pos.PackageAnswer
	)
	if json.Unmarshal(b, &reply) != nil || json.Unmarshal(reply.Partner.Body, &answer) != nil || len(answer.Recipients) != 1 || answer.Recipients[0].PortalURL == "" {
		return "", fmt.Errorf("POS package event: no portal link in the answer: %s", b)
	}
	return answer.Recipients[0].PortalURL, nil
}

// openPackage is the recipient: follow the portal link (sign-in, then the open endpoint,
// which asks the POS Framework for a Delivery Room session) until the Delivery Room shows.
// A failed open (the platform answered 5xx, Temporal was restarting) is simply tried again.
func (r *runner) openPackage(ctx context.Context, link string) error {
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, Timeout: 20 * time.Second}
	backoff := 200 * time.Millisecond
	var last string
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, link, nil)
		if err != nil {
			return err
		}
		resp, err := browser.Do(req)
		if err == nil {
			page, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && strings.Contains(string(page), "Delivery Room") {
				return nil
			}
			last = fmt.Sprintf("%d %s", resp.StatusCode, strings.TrimSpace(string(page)))
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the Delivery Room never opened: %w (last: %.200s)", ctx.Err(), last)
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 2*time.Second)
	}
}

// awaitPackage waits for the package's workflow: it ends once every recipient has opened.
func (r *runner) awaitPackage(ctx context.Context, key string) (workflows.PackageStatus, error) {
	var st workflows.PackageStatus
	for {
		// Not found yet, or the server restarting: both are waited out.
		err := r.client.GetWorkflow(ctx, workflows.PackageWorkflowID(key), "").Get(ctx, &st)
		if err == nil {
			return st, nil
		}
		select {
		case <-ctx.Done():
			return st, fmt.Errorf("package %s: %w", key, ctx.Err())
		case <-time.After(time.Second):
		}
	}
}

// checkPackages reads each package's record at the POS Framework and its workflow runs.
func (r *runner) checkPackages(ctx context.Context, pkgs []*pkgOrder, rep *Report) error {
	rep.Packages = len(pkgs)
	for _, p := range pkgs {
		var problems []string
		switch {
		case p.openErr != nil:
			problems = append(problems, p.openErr.Error())
		case p.err != nil:
			problems = append(problems, fmt.Sprintf("workflow never ended: %v", p.err))
		case len(p.result.Recipients) != 1 || !p.result.Recipients[0].Opened:
			problems = append(problems, fmt.Sprintf("workflow ended without the recipient's opening: %+v", p.result))
		default:
			rep.PackagesOpened++
		}
		for i, a := range p.answers {
			if a != p.answers[0] {
				problems = append(problems, fmt.Sprintf("send %d answered another portal link than send 1", i+1))
			}
		}
		var view struct {
			Bindings []struct {
				RecipientID string `json:"recipientId"`
			} `json:"bindings"`
			Sessions   []json.RawMessage `json:"sessions"`
			EventsSent int               `json:"eventsSent"`
		}
		if err := r.getJSON(ctx, r.sandboxURL+"/sandbox/pos/packages/"+p.id, &view); err != nil {
			return fmt.Errorf("chaos: read package %s: %w", p.id, err)
		}
		rep.DeliveryRoomSessions += len(view.Sessions)
		if n := len(view.Bindings); n != 1 {
			problems = append(problems, fmt.Sprintf("recipient bound %d times", n))
		}
		runs, err := r.countRuns(ctx, workflows.PackageWorkflowID(p.key))
		if err != nil {
			return err
		}
		if runs != 1 {
			if runs > 1 {
				rep.DuplicatedEffects += runs - 1
			}
			problems = append(problems, fmt.Sprintf("%d workflow runs", runs))
		}
		for _, pr := range problems {
			rep.Deviations = append(rep.Deviations, fmt.Sprintf("package %d (%s): %s", p.n, p.id, pr))
		}
	}
	return nil
}

func (r *runner) getJSON(ctx context.Context, url string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %d %s", url, resp.StatusCode, b)
	}
	return json.Unmarshal(b, out)
}

// countRuns counts the executions of a workflow id, closed or not.
func (r *runner) countRuns(ctx context.Context, workflowID string) (int, error) {
	n := 0
	var token []byte
	for {
		resp, err := r.client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Query: fmt.Sprintf("WorkflowId = '%s'", workflowID), NextPageToken: token,
		})
		if err != nil {
			return 0, fmt.Errorf("chaos: list runs of %s: %w", workflowID, err)
		}
		n += len(resp.Executions)
		if token = resp.NextPageToken; len(token) == 0 {
			return n, nil
		}
	}
}
