package stack

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"

	sdklog "go.temporal.io/sdk/log"
)

// TestSDKRetriedTaskIsNotAnInfoLine: a workflow task the server refused for new events is
// retried by the SDK; its line goes to Debug, while other task failures stay at Info.
func TestSDKRetriedTaskIsNotAnInfoLine(t *testing.T) {
	for _, level := range []slog.Level{slog.LevelInfo, slog.LevelDebug} {
		var buf bytes.Buffer
		log := sdklog.NewStructuredLogger(sdkLogger(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: level})).With("component", "temporal-sdk")))
		log.Info("Task processing failed with error", "Namespace", "default", "Error", errors.New("UnhandledCommand"))
		log.Info("Task processing failed with error", "Namespace", "default", "Error", errors.New("context deadline exceeded"))
		got := buf.String()
		if level == slog.LevelInfo && strings.Contains(got, "UnhandledCommand") {
			t.Errorf("at Info: the retried task is logged:\n%s", got)
		}
		if (level == slog.LevelDebug && !strings.Contains(got, "level=DEBUG")) || !strings.Contains(got, "level=INFO msg=\"Task processing failed with error\" component=temporal-sdk Namespace=default Error=\"context deadline exceeded\"") {
			t.Errorf("at %s: got\n%s", level, got)
		}
	}
}
