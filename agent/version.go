package agent

// Version is set at build time by the Makefile (-X); "dev" otherwise.
var Version = "dev"
