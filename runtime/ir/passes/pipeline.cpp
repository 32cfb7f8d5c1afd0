#include "runtime/ir/passes/passes.h"

namespace pare {

Status run_default_passes(Graph& g) {
    PARE_RETURN_IF_ERROR(g.topo_sort());
    PARE_RETURN_IF_ERROR(remove_identity(g).status());
    PARE_RETURN_IF_ERROR(fuse_qdq(g).status());
    PARE_RETURN_IF_ERROR(fold_constants(g).status());
    PARE_RETURN_IF_ERROR(fold_affine(g).status());
    PARE_RETURN_IF_ERROR(eliminate_dead_code(g).status());
    PARE_RETURN_IF_ERROR(g.topo_sort());
    return infer_shapes(g);
}

Status prepare_for_editing(Graph& g) {
    PARE_RETURN_IF_ERROR(g.resolve_ops());
    PARE_RETURN_IF_ERROR(g.topo_sort());
    PARE_RETURN_IF_ERROR(remove_identity(g).status());
    PARE_RETURN_IF_ERROR(infer_shapes(g));
    PARE_RETURN_IF_ERROR(fold_constants(g).status());
    PARE_RETURN_IF_ERROR(eliminate_dead_code(g).status());
    PARE_RETURN_IF_ERROR(g.topo_sort());
    return infer_shapes(g);
}

}  // namespace pare
