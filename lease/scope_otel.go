package lease

import (
	"context"
	"errors"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

// scopeOutcome names how a scope operation ended: ok on success, notOK
// for a retryable failure.
func scopeOutcome(ctx context.Context, err error, ok, notOK string) string {
	switch {
	case err == nil:
		return ok
	case errors.Is(err, ErrInvalidInput):
		return OutcomeInvalid
	case errors.Is(err, ErrClosed):
		return OutcomeClosed
	case errors.Is(err, ErrScopeEnded):
		return OutcomeScopeEnded
	case errors.Is(err, ErrLost):
		return OutcomeLost
	case errors.Is(err, ErrScopeNotStarted):
		return OutcomeNotStarted
	case ctx.Err() != nil:
		return OutcomeCancelled
	}
	return notOK
}

// scopeDone ends a scope operation's span: per-node events for the nodes
// that did not succeed, the outcome, and a lost lease counted.
func (o *observer) scopeDone(ctx context.Context, span trace.Span, outcome string, err error, attrs ...attribute.KeyValue) {
	if outcome == OutcomeLost {
		o.lost.Add(ctx, 1)
	}
	if !span.IsRecording() {
		span.End()
		return
	}
	var na *NotAcquiredError
	var qe *QuorumError
	switch {
	case errors.As(err, &na):
		nodeEvents(span, na.Nodes)
	case errors.As(err, &qe):
		nodeEvents(span, qe.Nodes)
	}
	if outcome == OutcomeNotStarted {
		err = nil // waiting for the first acquisition is no error
	}
	finish(span, outcome, err, attrs...)
}
