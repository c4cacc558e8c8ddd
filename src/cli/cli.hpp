// cli: owns the command line: `gatehouse --version`, `serve -c FILE`, `check-config -c FILE`. Secrets
// never come from the command line (they would show in `ps`); only file paths do.
#pragma once

namespace gatehouse::cli {

int run(int argc, char** argv);

} // namespace gatehouse::cli
