package recent

import (
	"slices"
	"testing"
)

func TestRingKeepsTheLastValuesNewestFirst(t *testing.T) {
	r := New[int](3)
	if got := r.List(); len(got) != 0 {
		t.Fatalf("empty ring lists %v", got)
	}
	r.Add(1)
	r.Add(2)
	if got := r.List(); !slices.Equal(got, []int{2, 1}) {
		t.Errorf("List = %v, want [2 1]", got)
	}
	for v := 3; v <= 7; v++ {
		r.Add(v)
	}
	if got := r.List(); !slices.Equal(got, []int{7, 6, 5}) {
		t.Errorf("after 7 adds to a ring of 3: List = %v, want [7 6 5]", got)
	}
}
