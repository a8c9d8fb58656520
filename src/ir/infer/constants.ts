/** Inference rules: Constant and ConstantOfShape, whose small int64 contents are tracked as shape values. */
import { DataType } from '../../onnx/dtype.js';
import { tensorDims } from '../../onnx/tensor.js';
import { intsOf, set, shapeValues, type InferRule } from './context.js';

export const rules: readonly InferRule[] = [
  {
    ops: ['Constant'],
    infer: ({ out, A }) => {
      const t = A.tensor('value');
      if (t && out) {
        set(out, { elemType: t.dataType, shape: tensorDims(t) });
        const k = intsOf(t);
        if (k) shapeValues.set(out, k);
      } else if (A.has('value_float')) set(out, { elemType: DataType.FLOAT, shape: [] });
      else if (A.has('value_int')) set(out, { elemType: DataType.INT64, shape: [] });
      else if (A.has('value_ints')) set(out, { elemType: DataType.INT64, shape: [A.ints('value_ints').length] });
      else if (A.has('value_floats')) set(out, { elemType: DataType.FLOAT, shape: [A.floats('value_floats').length] });
      if (A.has('value_int') && out) shapeValues.set(out, [A.int('value_int')]);
      if (A.has('value_ints') && out) shapeValues.set(out, A.ints('value_ints'));
    },
  },
  {
    ops: ['ConstantOfShape'],
    infer: ({ out, A, constIn }) => {
      const t = A.tensor('value');
      const dims = constIn(0);
      set(out, { elemType: t?.dataType ?? DataType.FLOAT, shape: dims ?? undefined });
      const fill = t ? intsOf(t)?.[0] : undefined;
      if (out && fill !== undefined && dims?.length === 1 && typeof dims[0] === 'number' && dims[0] <= 64) {
        shapeValues.set(out, Array.from({ length: dims[0] }, () => fill));
      }
    },
  },
];
