/**
 * Edges of a big graph drawn on a canvas of their own, under cytoscape's: cytoscape keeps the
 * nodes, the viewport and the interaction; this layer draws every edge as a straight line in one
 * path per colour and width (10,000 edges in a few milliseconds, where cytoscape needs seconds to
 * build and style that many elements), follows pan and zoom, and finds the edge under a click.
 */
import type { Core } from 'cytoscape';

export interface LayerEdge {
  readonly id: string;
  readonly source: string;
  readonly target: string;
  readonly color: string;
  /** Width in model units (like cytoscape's `width`). */
  readonly width: number;
}

export interface LayerMarks {
  /** Edge ids drawn highlighted (everything else dimmed when the set is not empty and `dim`). */
  readonly highlight: ReadonlySet<string>;
  readonly dim: boolean;
  readonly selected: string | undefined;
}

export class EdgeLayer {
  private edges: LayerEdge[] = [];
  /** Endpoints in model coordinates: x1, y1, x2, y2 per edge. */
  private coords = new Float64Array(0);
  private marks: LayerMarks = { highlight: new Set(), dim: false, selected: undefined };
  private frame = 0;
  private readonly onViewport = (): void => this.schedule();
  private readonly resize: ResizeObserver | undefined;

  constructor(
    private readonly canvas: HTMLCanvasElement,
    private readonly cy: Core,
  ) {
    cy.on('viewport resize', this.onViewport);
    this.resize = typeof ResizeObserver === 'function' ? new ResizeObserver(() => this.schedule()) : undefined;
    this.resize?.observe(canvas.parentElement ?? canvas);
  }

  /** Sets the edges; node positions are read from cytoscape now (big graphs' nodes do not move). */
  setEdges(edges: readonly LayerEdge[]): void {
    const pos = new Map<string, { x: number; y: number }>();
    this.cy.nodes().forEach((n) => {
      pos.set(n.id(), n.position());
    });
    const kept: LayerEdge[] = [];
    const coords = new Float64Array(edges.length * 4);
    for (const e of edges) {
      const a = pos.get(e.source);
      const b = pos.get(e.target);
      if (!a || !b) continue;
      const i = kept.length * 4;
      coords[i] = a.x;
      coords[i + 1] = a.y;
      coords[i + 2] = b.x;
      coords[i + 3] = b.y;
      kept.push(e);
    }
    this.edges = kept;
    this.coords = coords;
    this.draw();
  }

  get count(): number {
    return this.edges.length;
  }

  setMarks(marks: LayerMarks): void {
    this.marks = marks;
    this.schedule();
  }

  private schedule(): void {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.draw();
    });
  }

  /** Draws every edge now. */
  draw(): void {
    const cy = this.cy;
    const w = cy.width();
    const h = cy.height();
    const dpr = Math.min(2, window.devicePixelRatio || 1);
    if (this.canvas.width !== Math.round(w * dpr) || this.canvas.height !== Math.round(h * dpr)) {
      this.canvas.width = Math.round(w * dpr);
      this.canvas.height = Math.round(h * dpr);
      this.canvas.style.width = `${w}px`;
      this.canvas.style.height = `${h}px`;
    }
    const ctx = this.canvas.getContext('2d');
    if (!ctx) return;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, this.canvas.width, this.canvas.height);
    const zoom = cy.zoom();
    const pan = cy.pan();
    ctx.setTransform(dpr * zoom, 0, 0, dpr * zoom, dpr * pan.x, dpr * pan.y);
    ctx.lineCap = 'round';
    const { highlight, dim, selected } = this.marks;
    const dimOthers = dim && highlight.size > 0;
    // One path per colour and width: a handful of strokes for any number of edges.
    const groups = new Map<string, number[]>();
    const on: number[] = [];
    let sel = -1;
    this.edges.forEach((e, i) => {
      if (e.id === selected) sel = i;
      else if (highlight.has(e.id)) on.push(i);
      else {
        const key = `${e.color}|${e.width}`;
        let g = groups.get(key);
        if (!g) groups.set(key, (g = []));
        g.push(i);
      }
    });
    const minWidth = 0.7 / zoom; // at least ~0.7 px on screen, however far out…
    const maxWidth = 5 / zoom; // …and at most ~5 px, however far in
    const stroke = (indices: readonly number[], color: string, width: number, alpha: number): void => {
      if (indices.length === 0) return;
      ctx.globalAlpha = alpha;
      ctx.strokeStyle = color;
      ctx.lineWidth = Math.min(maxWidth, Math.max(width, minWidth));
      ctx.beginPath();
      const c = this.coords;
      for (const i of indices) {
        const k = i * 4;
        ctx.moveTo(c[k]!, c[k + 1]!);
        ctx.lineTo(c[k + 2]!, c[k + 3]!);
      }
      ctx.stroke();
    };
    // Healthy edges first, failing ones last (on top).
    const order = [...groups.entries()].sort((a, b) => rank(a[0]) - rank(b[0]));
    for (const [key, indices] of order) {
      const [color, width] = key.split('|');
      stroke(indices, color!, Number(width), dimOthers ? 0.1 : 0.5);
    }
    stroke(on, '#1f6feb', 3, 0.95);
    if (sel >= 0) stroke([sel], '#1f6feb', 4, 1);
    ctx.globalAlpha = 1;
  }

  /** The edge nearest to a point (model coordinates) within `tolerancePx` on screen. */
  pick(x: number, y: number, tolerancePx = 6): string | undefined {
    const tol = tolerancePx / this.cy.zoom();
    let best = -1;
    let bestD = tol * tol;
    const c = this.coords;
    for (let i = 0; i < this.edges.length; i++) {
      const k = i * 4;
      const x1 = c[k]!;
      const y1 = c[k + 1]!;
      const x2 = c[k + 2]!;
      const y2 = c[k + 3]!;
      // Cheap reject on the bounding box.
      if (x < Math.min(x1, x2) - tol || x > Math.max(x1, x2) + tol || y < Math.min(y1, y2) - tol || y > Math.max(y1, y2) + tol) continue;
      const dx = x2 - x1;
      const dy = y2 - y1;
      const len2 = dx * dx + dy * dy;
      const t = len2 === 0 ? 0 : Math.max(0, Math.min(1, ((x - x1) * dx + (y - y1) * dy) / len2));
      const px = x1 + t * dx - x;
      const py = y1 + t * dy - y;
      const d = px * px + py * py;
      if (d <= bestD) {
        bestD = d;
        best = i;
      }
    }
    return best >= 0 ? this.edges[best]!.id : undefined;
  }

  destroy(): void {
    if (this.frame) cancelAnimationFrame(this.frame);
    this.cy.removeListener('viewport resize', this.onViewport);
    this.resize?.disconnect();
  }
}

/** Draw order: grey (healthy) first, then orange, then red. */
function rank(key: string): number {
  if (key.startsWith('#d1242f')) return 3;
  if (key.startsWith('#d4822a')) return 2;
  return 1;
}
