/**
 * The ONNX protobuf schema (onnx.proto, IR version 13), described as a protobufjs JSON root so no code
 * generation step is needed. Field numbers follow the ONNX specification; every message and field the
 * specification defines is listed, because a field missing here would be dropped on a load -> save round trip.
 */
import protobuf from 'protobufjs';

const opt = (type: string, id: number) => ({ type, id });
const rep = (type: string, id: number) => ({ type, id, rule: 'repeated' as const });
const packed = (type: string, id: number) => ({ type, id, rule: 'repeated' as const, options: { packed: true } });
/** Repeated scalars that onnx.proto (proto2) leaves unpacked; protobufjs would pack them unless told not to. */
const unpacked = (type: string, id: number) => ({ type, id, rule: 'repeated' as const, options: { packed: false } });

const messages: Record<string, protobuf.IType & { nested?: Record<string, protobuf.AnyNestedObject> }> = {
  AttributeProto: {
    fields: {
      name: opt('string', 1), refAttrName: opt('string', 21), docString: opt('string', 13), type: opt('int32', 20),
      f: opt('float', 2), i: opt('int64', 3), s: opt('bytes', 4), t: opt('TensorProto', 5), g: opt('GraphProto', 6),
      sparseTensor: opt('SparseTensorProto', 22), tp: opt('TypeProto', 14),
      floats: unpacked('float', 7), ints: unpacked('int64', 8), strings: rep('bytes', 9), tensors: rep('TensorProto', 10),
      graphs: rep('GraphProto', 11), sparseTensors: rep('SparseTensorProto', 23), typeProtos: rep('TypeProto', 15),
    },
  },
  ValueInfoProto: {
    fields: {
      name: opt('string', 1), type: opt('TypeProto', 2), docString: opt('string', 3),
      metadataProps: rep('StringStringEntryProto', 4),
    },
  },
  NodeProto: {
    fields: {
      input: rep('string', 1), output: rep('string', 2), name: opt('string', 3), opType: opt('string', 4),
      domain: opt('string', 7), overload: opt('string', 8), attribute: rep('AttributeProto', 5),
      docString: opt('string', 6), metadataProps: rep('StringStringEntryProto', 9),
      deviceConfigurations: rep('NodeDeviceConfigurationProto', 10),
    },
  },
  IntIntListEntryProto: { fields: { key: opt('int64', 1), value: unpacked('int64', 2) } },
  NodeDeviceConfigurationProto: {
    fields: {
      configurationId: opt('string', 1), shardingSpec: rep('ShardingSpecProto', 2), pipelineStage: opt('int32', 3),
    },
  },
  ShardingSpecProto: {
    fields: {
      tensorName: opt('string', 1), device: unpacked('int64', 2),
      indexToDeviceGroupMap: rep('IntIntListEntryProto', 3), shardedDim: rep('ShardedDimProto', 4),
    },
  },
  ShardedDimProto: { fields: { axis: opt('int64', 1), simpleSharding: rep('SimpleShardedDimProto', 2) } },
  SimpleShardedDimProto: {
    fields: { dimValue: opt('int64', 1), dimParam: opt('string', 2), numShards: opt('int64', 3) },
    oneofs: { dim: { oneof: ['dimValue', 'dimParam'] } },
  },
  TrainingInfoProto: {
    fields: {
      initialization: opt('GraphProto', 1), algorithm: opt('GraphProto', 2),
      initializationBinding: rep('StringStringEntryProto', 3), updateBinding: rep('StringStringEntryProto', 4),
    },
  },
  ModelProto: {
    fields: {
      irVersion: opt('int64', 1), opsetImport: rep('OperatorSetIdProto', 8), producerName: opt('string', 2),
      producerVersion: opt('string', 3), domain: opt('string', 4), modelVersion: opt('int64', 5),
      docString: opt('string', 6), graph: opt('GraphProto', 7), metadataProps: rep('StringStringEntryProto', 14),
      trainingInfo: rep('TrainingInfoProto', 20), functions: rep('FunctionProto', 25),
      configuration: rep('DeviceConfigurationProto', 26),
    },
  },
  DeviceConfigurationProto: { fields: { name: opt('string', 1), numDevices: opt('int32', 2), device: rep('string', 3) } },
  StringStringEntryProto: { fields: { key: opt('string', 1), value: opt('string', 2) } },
  TensorAnnotation: {
    fields: { tensorName: opt('string', 1), quantParameterTensorNames: rep('StringStringEntryProto', 2) },
  },
  GraphProto: {
    fields: {
      node: rep('NodeProto', 1), name: opt('string', 2), initializer: rep('TensorProto', 5),
      sparseInitializer: rep('SparseTensorProto', 15), docString: opt('string', 10), input: rep('ValueInfoProto', 11),
      output: rep('ValueInfoProto', 12), valueInfo: rep('ValueInfoProto', 13),
      quantizationAnnotation: rep('TensorAnnotation', 14), metadataProps: rep('StringStringEntryProto', 16),
    },
  },
  TensorProto: {
    fields: {
      dims: unpacked('int64', 1), dataType: opt('int32', 2), segment: opt('Segment', 3), floatData: packed('float', 4),
      int32Data: packed('int32', 5), stringData: rep('bytes', 6), int64Data: packed('int64', 7), name: opt('string', 8),
      docString: opt('string', 12), rawData: opt('bytes', 9), externalData: rep('StringStringEntryProto', 13),
      dataLocation: opt('int32', 14), doubleData: packed('double', 10), uint64Data: packed('uint64', 11),
      metadataProps: rep('StringStringEntryProto', 16),
    },
    nested: { Segment: { fields: { begin: opt('int64', 1), end: opt('int64', 2) } } },
  },
  SparseTensorProto: {
    fields: { values: opt('TensorProto', 1), indices: opt('TensorProto', 2), dims: unpacked('int64', 3) },
  },
  TensorShapeProto: {
    fields: { dim: rep('Dimension', 1) },
    nested: {
      Dimension: {
        fields: { dimValue: opt('int64', 1), dimParam: opt('string', 2), denotation: opt('string', 3) },
        oneofs: { value: { oneof: ['dimValue', 'dimParam'] } },
      },
    },
  },
  TypeProto: {
    fields: {
      tensorType: opt('Tensor', 1), sequenceType: opt('Sequence', 4), mapType: opt('Map', 5),
      optionalType: opt('Optional', 9), sparseTensorType: opt('SparseTensor', 8), opaqueType: opt('Opaque', 7),
      denotation: opt('string', 6),
    },
    oneofs: {
      value: { oneof: ['tensorType', 'sequenceType', 'mapType', 'optionalType', 'sparseTensorType', 'opaqueType'] },
    },
    nested: {
      Tensor: { fields: { elemType: opt('int32', 1), shape: opt('TensorShapeProto', 2) } },
      Sequence: { fields: { elemType: opt('TypeProto', 1) } },
      Map: { fields: { keyType: opt('int32', 1), valueType: opt('TypeProto', 2) } },
      Optional: { fields: { elemType: opt('TypeProto', 1) } },
      SparseTensor: { fields: { elemType: opt('int32', 1), shape: opt('TensorShapeProto', 2) } },
      Opaque: { fields: { domain: opt('string', 1), name: opt('string', 2) } },
    },
  },
  OperatorSetIdProto: { fields: { domain: opt('string', 1), version: opt('int64', 2) } },
  FunctionProto: {
    fields: {
      name: opt('string', 1), input: rep('string', 4), output: rep('string', 5), attribute: rep('string', 6),
      attributeProto: rep('AttributeProto', 11), node: rep('NodeProto', 7), docString: opt('string', 8),
      opsetImport: rep('OperatorSetIdProto', 9), domain: opt('string', 10), overload: opt('string', 13),
      valueInfo: rep('ValueInfoProto', 12), metadataProps: rep('StringStringEntryProto', 14),
    },
  },
};

/**
 * protobufjs treats JSON-described types as proto3 unless told otherwise, and proto3 drops explicitly set
 * empty strings (e.g. `domain: ""` in opset_import) on encode. onnx.proto is proto2: say so on every type.
 */
function asProto2(types: Record<string, object>): Record<string, object> {
  return Object.fromEntries(
    Object.entries(types).map(([name, t]) => {
      const nested = (t as { nested?: Record<string, object> }).nested;
      return [name, { ...t, edition: 'proto2', ...(nested ? { nested: asProto2(nested) } : {}) }];
    }),
  );
}

const root = protobuf.Root.fromJSON({ nested: { onnx: { nested: asProto2(messages) as never } } });

export const ModelProtoType = root.lookupType('onnx.ModelProto');
export const TensorProtoType = root.lookupType('onnx.TensorProto');
export const GraphProtoType = root.lookupType('onnx.GraphProto');
