// Gatehouse entry point: everything happens in cli::run.
#include "cli/cli.hpp"

int main(int argc, char** argv) { return gatehouse::cli::run(argc, argv); }
