package devstack_test

import (
	"context"
	"testing"

	"github.com/redlease/redlease/internal/devstack"
)

func TestTemporalDevServerAnswers(t *testing.T) {
	srv := devstack.Temporal(t)
	if _, err := srv.Client().CheckHealth(context.Background(), nil); err != nil {
		t.Fatalf("dev server at %s not healthy: %v", srv.FrontendHostPort(), err)
	}
}
