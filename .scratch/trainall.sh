#!/bin/bash
# distill train --max-steps 3 on every models/user export (the model as its own teacher)
cd /work/main
for d in models/user/*/; do
  fam=$(basename $d)
  for f in torchscript.onnx dynamo.onnx; do
    [ -f $d/$f ] || continue
    out=$(mktemp -d)
    s=$(date +%s.%N)
    node dist/src/cli/main.js train --teacher $d/$f --student $d/$f --train-file $d/train.jsonl --output-dir $out --max-steps 3 --batch-size 4 --threads 2 > $out.log 2>&1
    rc=$?
    e=$(date +%s.%N)
    printf "%-28s rc=%s %5.1fs %s\n" "$fam/$f" $rc $(echo "$e - $s" | bc) "$(grep -iE 'error|distill:' $out.log | head -1 | cut -c1-150)"
    rm -rf $out $out.log
  done
done
