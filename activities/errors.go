package activities

import (
	"errors"

	"github.com/redlease/redlease/lease"
	"go.temporal.io/sdk/temporal"
)

// Application error types returned by the activities. Workflows match them
// with temporal.ApplicationError.Type(); all but LeaseUnconfirmed are
// non-retryable.
const (
	// ErrorTypeLeaseLost: the lease ended while the critical section ran,
	// or another holder took it before the section started.
	ErrorTypeLeaseLost = "LeaseLost"
	// ErrorTypeNotAcquired: AcquireLease waited its whole Wait budget.
	ErrorTypeNotAcquired = "LeaseNotAcquired"
	// ErrorTypeInvalidInput: a request or timing the lease package rejects,
	// or a TTL that breaks the timing rule.
	ErrorTypeInvalidInput = "LeaseInvalidInput"
	// ErrorTypeReleased: an attempt of a scope that was already released
	// (by ReleaseLease, or by its last section: an attempt of the last
	// section retried after its result was lost finds the scope released).
	ErrorTypeReleased = "LeaseReleased"
	// ErrorTypeUnconfirmed: a critical section could not confirm its lease
	// for the lease's whole validity (its worker could not reach a quorum
	// of nodes) and stopped. Retryable: a retry continues the scope if the
	// nodes prove it still holds.
	ErrorTypeUnconfirmed = "LeaseUnconfirmed"
)

func nonRetryable(msg, typ string, cause error) error {
	return temporal.NewNonRetryableApplicationError(msg, typ, cause)
}

func leaseLost(msg string, cause error) error { return nonRetryable(msg, ErrorTypeLeaseLost, cause) }

func invalidInput(cause error) error {
	return nonRetryable(cause.Error(), ErrorTypeInvalidInput, cause)
}

// IsLeaseLost reports whether err (as a workflow sees it, wrapped in an
// ActivityError) is a LeaseLost application error.
func IsLeaseLost(err error) bool { return hasType(err, ErrorTypeLeaseLost) }

func hasType(err error, typ string) bool {
	var appErr *temporal.ApplicationError
	return errors.As(err, &appErr) && appErr.Type() == typ
}

// classify turns a lease error into what the activity returns: bad input
// is non-retryable, everything else is returned as is (retryable, or the
// context's error on cancellation).
func classify(err error) error {
	if errors.Is(err, lease.ErrInvalidInput) {
		return invalidInput(err)
	}
	return err
}
