/** The page's live chart: training loss per step (left axis) and eval accuracy points (right axis, 0-1). */
export interface ChartData {
  losses: { step: number; loss: number }[];
  accuracy: { step: number; accuracy: number }[];
  totalSteps: number;
}

export function drawChart(canvas: HTMLCanvasElement, d: ChartData): void {
  const g = canvas.getContext('2d')!;
  const W = canvas.width;
  const H = canvas.height;
  const pad = { l: 90, r: 90, t: 30, b: 60 };
  g.clearRect(0, 0, W, H);
  g.font = '24px system-ui, sans-serif';
  const maxLoss = Math.max(1e-6, ...d.losses.map((p) => p.loss));
  const steps = Math.max(1, d.totalSteps);
  const x = (s: number) => pad.l + ((W - pad.l - pad.r) * s) / steps;
  const yLoss = (v: number) => H - pad.b - ((H - pad.t - pad.b) * v) / maxLoss;
  const yAcc = (v: number) => H - pad.b - (H - pad.t - pad.b) * v;
  g.strokeStyle = '#c9d1da';
  g.lineWidth = 2;
  g.beginPath();
  g.moveTo(pad.l, pad.t);
  g.lineTo(pad.l, H - pad.b);
  g.lineTo(W - pad.r, H - pad.b);
  g.lineTo(W - pad.r, pad.t);
  g.stroke();
  g.fillStyle = '#5b6775';
  g.fillText('0', pad.l - 30, H - pad.b + 8);
  g.fillText(maxLoss.toFixed(2), 8, pad.t + 8);
  g.fillText(`step ${steps}`, W - pad.r - 110, H - pad.b + 40);
  g.fillText('1.0', W - pad.r + 12, pad.t + 8);
  g.fillStyle = '#3b78c2';
  g.fillText('loss', pad.l + 10, pad.t + 24);
  g.fillStyle = '#1f9d55';
  g.fillText('eval accuracy', pad.l + 80, pad.t + 24);
  if (d.losses.length) {
    g.strokeStyle = '#3b78c2';
    g.lineWidth = 3;
    g.beginPath();
    d.losses.forEach((p, i) => (i === 0 ? g.moveTo(x(p.step), yLoss(p.loss)) : g.lineTo(x(p.step), yLoss(p.loss))));
    g.stroke();
  }
  g.fillStyle = '#1f9d55';
  for (const p of d.accuracy) {
    g.beginPath();
    g.arc(x(p.step), yAcc(p.accuracy), 8, 0, 2 * Math.PI);
    g.fill();
    g.fillText(`${(100 * p.accuracy).toFixed(1)}%`, Math.min(x(p.step) + 12, W - pad.r - 90), yAcc(p.accuracy) + 30);
  }
}
