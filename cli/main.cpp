// pare: the command line. Thin: parses flags, calls toolkit functions, prints.
// Every failure is one line "pare: <what and where>" and a non-zero exit
// (1 for errors in the model or data, 2 for bad flags).
#include <cstdio>

#include "cli/cli.h"

int main(int argc, char** argv) {
    CLI::App app{
        "pare: make neural networks small and fast, and prove it.\n"
        "Models are ONNX files; tensors are NumPy .npy files."};
    app.require_subcommand(1);
    pare::cli::VerbTable verbs;
    pare::cli::add_model_verbs(app, verbs);
    pare::cli::add_train_verbs(app, verbs);
    pare::cli::add_quant_verbs(app, verbs);
    pare::cli::add_prune_verbs(app, verbs);
    pare::cli::add_lowrank_verbs(app, verbs);
    pare::cli::add_distill_verbs(app, verbs);
    pare::cli::add_hybrid_verbs(app, verbs);
    pare::cli::add_auto_verbs(app, verbs);
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e);
    }
    try {
        for (const auto& v : verbs) {
            if (v.first->parsed()) return v.second();
        }
    } catch (const pare::cli::Failure& f) {
        std::fprintf(stderr, "pare: %s\n", f.status.message().c_str());
        return 1;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "pare: %s\n", e.what());
        return 1;
    }
    return 0;
}
