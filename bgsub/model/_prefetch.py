"""A software prefetch for Numba kernels: LLVM's ``llvm.prefetch`` on an array element.

The model's second pass visits the listed columns of a row (the pixels that did not match their
first component) and reads their lower ranks in ``cold``, a state of tens of megabytes that is
not in cache: each visit waited on memory.  Asking for the record a few listed columns ahead
lets those loads overlap (the model alone on the bridge video, alternating in one process:
1920x1080 gray on two threads 7.99 -> 7.39 ms a frame, colour 10.3 -> 9.3; 640x360 gray on
one thread 3%).  A hint: it changes no result.
"""

from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic


@intrinsic
def prefetch_write(typingctx, arr, inds):
    """Prefetch the cache line of ``arr[inds]`` (a tuple of integers, one per dimension), to
    be written, into every cache level.  No bounds check: the caller keeps ``inds`` inside
    ``arr``."""
    if not isinstance(arr, types.Array) or not isinstance(inds, types.BaseTuple) or \
            len(inds) != arr.ndim or not all(isinstance(t, types.Integer) for t in inds):
        return None
    sig = types.void(arr, inds)

    def codegen(context, builder, signature, args):
        aryty, indty = signature.args
        ary = context.make_array(aryty)(context, builder, args[0])
        idx = [context.cast(builder, v, t, types.intp)
               for v, t in zip(cgutils.unpack_tuple(builder, args[1], aryty.ndim), indty)]
        ptr = cgutils.get_item_pointer2(
            context, builder, data=ary.data, shape=cgutils.unpack_tuple(builder, ary.shape),
            strides=cgutils.unpack_tuple(builder, ary.strides), layout=aryty.layout,
            inds=idx, wraparound=False, boundscheck=False)
        i8p = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        fn = builder.module.declare_intrinsic(
            "llvm.prefetch", [i8p], ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32]))
        # rw 1 (a write), locality 3 (keep in every level), cache type 1 (data)
        builder.call(fn, [builder.bitcast(ptr, i8p), ir.Constant(i32, 1), ir.Constant(i32, 3),
                          ir.Constant(i32, 1)])
        return context.get_dummy_value()

    return sig, codegen
