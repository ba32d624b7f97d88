// Package fileref checks the files and directories a config names (broker passwords, CA certificates,
// client keys, device profile directories, the state directory) the way the agent will use them, before
// it starts: that each exists, is a file or a directory as expected, and can be read (or written) by the
// user the agent runs as; and that a secret cannot be read by anyone else.
//
// Without it `rackwatch check` accepted a password_file that did not exist, and the agent then ran with
// a broker that stayed down quietly. The config says which paths it names (a list of Ref); this package
// knows nothing of YAML, so any config (the agent's, the central service's) can use it.
package fileref
