// Package shiftsim is the pacing benchmark's simulation: it plays a
// call-center shift in virtual time (members who answer or not, ring,
// are machines or people, talk, and hang up when nobody comes; agents
// who log in, take calls, wrap up, take breaks and log out) and drives
// the production code through the engine's own seams: a pacing.Pacer
// asked for calls with a pacing.View, the attempt state machine
// (attempt.Step) for every call, and the agent order of agentorder. No
// ESL, Redis or wall clock: a run is a pure function of its scenario
// and policy, and every policy meets the same members (each member's
// draws come from the scenario's seed and the member's index).
//
// A scenario file is JSON: {"defaults": {...}, "scenarios": [{"name":
// ..., ...}, ...]}; each scenario is the defaults with its own fields on
// top (see Scenario for the fields, deploy/pacing-scenarios.json for the
// benchmark's). cmd/pacingbench runs one and prints the table.
package shiftsim
