package api

import (
	"context"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/epcflow/epcflow/schemas"
	"github.com/epcflow/epcflow/workflows"
)

const (
	keyParamID      = "id"
	maxTxIDLen      = 128
	txIDRuleMessage = "invalid transaction id: 1 to 128 characters of A-Z a-z 0-9 - _ ."
)

// validTransactionID admits what EPC ids look like (UUIDs) and nothing that could garble a
// log line or a workflow id.
func validTransactionID(id string) bool {
	if id == "" || len(id) > maxTxIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		b := id[i]
		if !(b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '-' || b == '_' || b == '.') {
			return false
		}
	}
	return true
}

// transactionParam checks :id on every /v1/transactions/:id route and records it for logs.
func (s *server) transactionParam(c *gin.Context) {
	id := c.Param(keyParamID)
	if !validTransactionID(id) {
		writeError(c, http.StatusBadRequest, txIDRuleMessage)
		return
	}
	setTransactionID(c, id)
	c.Next()
}

func (s *server) operatorContext(c *gin.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(c.Request.Context(), s.cfg.OperatorTimeout)
}

// status answers the transaction's live state (the workflow's status query).
func (s *server) status(c *gin.Context) {
	id := c.Param(keyParamID)
	ctx, cancel := s.operatorContext(c)
	defer cancel()
	st, err := s.cfg.Engine.Status(ctx, id)
	if err != nil {
		engineError(c, ctx, id, err)
		return
	}
	c.JSON(http.StatusOK, st)
}

// schedule: {"inspectionAt": RFC 3339, "appraiser"?, "comments"?}.
func (s *server) schedule(c *gin.Context) {
	o, ok := s.jsonObject(c, maxJSONBytes)
	if !ok {
		return
	}
	in := workflows.ScheduleInput{
		InspectionAt: o.time("inspectionAt", true),
		Appraiser:    o.str("appraiser", false, maxNameLen),
		Comments:     o.str("comments", false, maxCommentsLen),
	}
	if !answerProblems(c, o.problems()) {
		return
	}
	s.act(c, "schedule", func(ctx context.Context, id string) (workflows.ActionResult, error) {
		return s.cfg.Engine.Schedule(ctx, id, in)
	})
}

// progress: {"text", "comments"?}, posted to the lender as a transaction event.
func (s *server) progress(c *gin.Context) {
	o, ok := s.jsonObject(c, maxJSONBytes)
	if !ok {
		return
	}
	in := workflows.ProgressInput{
		Text:     o.str("text", true, maxTextLen),
		Comments: o.str("comments", false, maxCommentsLen),
	}
	if !answerProblems(c, o.problems()) {
		return
	}
	s.act(c, "progress", func(ctx context.Context, id string) (workflows.ActionResult, error) {
		return s.cfg.Engine.Progress(ctx, id, in)
	})
}

// jsonObject reads a JSON object body of at most limit bytes; false when it has answered.
func (s *server) jsonObject(c *gin.Context, limit int64) (*object, bool) {
	if !requireJSON(c) {
		return nil, false
	}
	body, ok := readBody(c, limit)
	if !ok {
		return nil, false
	}
	return decodeObject(body), true
}

// answerProblems answers 400 when there are problems; true when there are none.
func answerProblems(c *gin.Context, probs []schemas.Problem) bool {
	if len(probs) == 0 {
		return true
	}
	writeProblems(c, http.StatusBadRequest, "invalid request", probs)
	return false
}

// act sends an operator action to the workflow and answers with its result.
func (s *server) act(c *gin.Context, action string, do func(ctx context.Context, id string) (workflows.ActionResult, error)) {
	id := c.Param(keyParamID)
	ctx, cancel := s.operatorContext(c)
	defer cancel()
	res, err := do(ctx, id)
	if err != nil {
		engineError(c, ctx, id, err)
		return
	}
	LoggerFrom(c).Info("operator action accepted", "action", action, "stage", res.Stage)
	c.JSON(http.StatusOK, res)
}
