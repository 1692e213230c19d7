// Package config reads cutover.yaml, the one file that describes a whole
// installation for `plan`, `presync`, `final` and `status`: the file sets,
// databases and index sets to move, concurrency and the state directory.
//
// Unknown keys and bad values are errors that name the line. ${VAR} is
// replaced by the environment variable VAR (for secrets); a missing
// variable is an error. Relative paths are relative to the file's
// directory. `cutover init` writes a commented file with per-product
// defaults (Template).
package config
