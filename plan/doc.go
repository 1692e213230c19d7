// Package plan works out what a run must do before anything is done: it
// merges a sorted listing of the source with the sorted record of the last
// run (the manifest, or a listing of the target when there is no record) and
// emits actions (create, copy, link, fix metadata, delete) with their counts
// and bytes. Planning changes nothing, so --dry-run and `cutover plan` are
// the planner alone. It does not list stores or execute actions.
package plan
