package ledger

import (
	"errors"
	"fmt"
	"testing"

	"github.com/hashicorp/raft"
)

// TestRaftErrorsClassifiedByWhetherTheEntryWasAppended checks how raft's apply errors reach clients: an
// error raft returns before appending the entry means "not applied, retry at the leader" (ErrNotLeader);
// only an entry appended and then orphaned by a lost leadership leaves the outcome unknown.
func TestRaftErrorsClassifiedByWhetherTheEntryWasAppended(t *testing.T) {
	cases := []struct {
		err        error
		notApplied bool
	}{
		{raft.ErrNotLeader, true},
		{raft.ErrNotVoter, true},
		{raft.ErrEnqueueTimeout, true},
		// raft's leader loop refuses a new apply during a leadership transfer without dispatching it.
		{raft.ErrLeadershipTransferInProgress, true},
		{raft.ErrLeadershipLost, false},
	}
	for _, tc := range cases {
		got := translateRaftErr(fmt.Errorf("apply: %w", tc.err))
		if !errors.Is(got, tc.err) {
			t.Errorf("%v: the translation %v lost the cause", tc.err, got)
		}
		if tc.notApplied && (!errors.Is(got, ErrNotLeader) || IsOutcomeUnknown(got)) {
			t.Errorf("%v: translated to %v, want not-leader (not applied), not an unknown outcome", tc.err, got)
		}
		if !tc.notApplied && (!IsOutcomeUnknown(got) || errors.Is(got, ErrNotLeader)) {
			t.Errorf("%v: translated to %v, want an unknown outcome", tc.err, got)
		}
	}
}
