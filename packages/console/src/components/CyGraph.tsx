/**
 * Cytoscape on a div: positions come with the elements (`preset` layout, computed by layout.ts),
 * a change of data only updates data (no re-layout, no flicker), a change of the node/edge set
 * rebuilds. Big graphs get cytoscape's cheap rendering options and, unless told otherwise, their
 * edges on a canvas layer of their own (edge-layer.ts): cytoscape then holds only the nodes.
 */
import cytoscape from 'cytoscape';
import type { Core, ElementDefinition, StylesheetJson } from 'cytoscape';
import { useEffect, useRef } from 'preact/hooks';
import { EdgeLayer, type LayerEdge } from './edge-layer.js';

export interface CyGraphProps {
  readonly elements: readonly ElementDefinition[];
  /** Changes when the set of elements changes (ids), so the graph is rebuilt rather than updated. */
  readonly structureKey: string;
  readonly style: StylesheetJson;
  readonly big?: boolean;
  /**
   * Draw the edges on the edge layer (they must be straight, arrowless, without labels): given, it
   * maps an edge element to its colour and width. Only used with `preset` layout.
   */
  readonly edgeLayerStyle?: ((edge: ElementDefinition) => { color: string; width: number }) | undefined;
  /** `preset` (default: positions come with the elements) or a cytoscape layout to run instead. */
  readonly layout?: 'preset' | 'breadthfirst' | 'cose' | 'concentric' | 'grid';
  readonly label: string;
  readonly class?: string;
  /** Ids to mark with the `hl` class (and every edge else `dim` when non-empty). */
  readonly highlight?: ReadonlySet<string>;
  /** Ids to mark with the `hl2` class (a second kind of highlight). */
  readonly highlight2?: ReadonlySet<string>;
  readonly selected?: string | undefined;
  onSelect?(id: string | undefined, group: 'nodes' | 'edges' | undefined): void;
  /** After the first frame of a (re)built graph, with the time since navigation and the number of edges drawn. */
  onRendered?(cy: Core, atMs: number, edges: number): void;
}

const isEdge = (el: ElementDefinition): boolean => el.group === 'edges' || (el.data.source !== undefined && el.data.target !== undefined);

function layerEdges(elements: readonly ElementDefinition[], style: NonNullable<CyGraphProps['edgeLayerStyle']>): LayerEdge[] {
  const out: LayerEdge[] = [];
  for (const el of elements) {
    if (!isEdge(el)) continue;
    const { color, width } = style(el);
    out.push({ id: String(el.data.id), source: String(el.data.source), target: String(el.data.target), color, width });
  }
  return out;
}

export function CyGraph(p: CyGraphProps) {
  const box = useRef<HTMLDivElement>(null);
  const canvas = useRef<HTMLCanvasElement>(null);
  const cyRef = useRef<Core | undefined>(undefined);
  const layer = useRef<EdgeLayer | undefined>(undefined);
  const builtKey = useRef<string>('');
  const justBuilt = useRef(false);
  const marked = useRef(false);
  const props = useRef(p);
  props.current = p;
  const layoutName = p.layout ?? 'preset';
  const useLayer = p.edgeLayerStyle !== undefined && layoutName === 'preset';

  // Build (or rebuild) when the structure changes.
  useEffect(() => {
    const container = box.current;
    if (!container) return;
    layer.current?.destroy();
    layer.current = undefined;
    cyRef.current?.destroy();
    const big = p.big === true;
    const cy = cytoscape({
      container,
      elements: (useLayer ? p.elements.filter((el) => !isEdge(el)) : p.elements) as ElementDefinition[],
      style: p.style,
      layout: layoutName === 'preset' ? { name: 'preset', fit: true, padding: 24 } : { name: 'preset', fit: false },
      minZoom: 0.02,
      maxZoom: 4,
      boxSelectionEnabled: false,
      autoungrabify: big || useLayer,
      textureOnViewport: big && !useLayer,
      hideEdgesOnViewport: big && !useLayer,
      hideLabelsOnViewport: big,
      motionBlur: false,
      pixelRatio: big ? 1 : 'auto',
    });
    cyRef.current = cy;
    builtKey.current = p.structureKey;
    justBuilt.current = true;
    marked.current = false;
    if (useLayer && canvas.current) {
      const l = new EdgeLayer(canvas.current, cy);
      l.setEdges(layerEdges(p.elements, p.edgeLayerStyle!));
      layer.current = l;
    }
    cy.on('tap', (e) => {
      const t = e.target as cytoscape.SingularElementReturnValue | Core;
      if (t === cy) {
        const hit = layer.current?.pick(e.position.x, e.position.y);
        props.current.onSelect?.(hit, hit ? 'edges' : undefined);
      } else {
        const el = t as cytoscape.SingularElementReturnValue;
        props.current.onSelect?.(el.id(), el.isNode() ? 'nodes' : 'edges');
      }
    });
    const rendered = (): void => {
      cy.one('render', () => requestAnimationFrame(() => props.current.onRendered?.(cy, performance.now(), layer.current ? layer.current.count : cy.edges().length)));
    };
    if (layoutName === 'preset') rendered();
    else {
      // A layout cytoscape computes itself (for comparison; slow on big graphs).
      const l = cy.layout({ name: layoutName, fit: true, padding: 24, animate: false } as cytoscape.LayoutOptions);
      l.one('layoutstop', () => {
        rendered();
        cy.resize();
      });
      l.run();
    }
    return undefined;
  }, [p.structureKey, layoutName, useLayer]);

  // Same structure: update data in place.
  useEffect(() => {
    const cy = cyRef.current;
    if (!cy || builtKey.current !== p.structureKey) return;
    if (justBuilt.current) {
      justBuilt.current = false;
      return;
    }
    cy.batch(() => {
      for (const el of p.elements) {
        const id = el.data.id;
        if (!id) continue;
        const found = cy.getElementById(id);
        if (found.nonempty()) {
          found.data(el.data);
          if (el.classes !== undefined) found.classes(el.classes as string);
        }
      }
    });
    if (layer.current && p.edgeLayerStyle) layer.current.setEdges(layerEdges(p.elements, p.edgeLayerStyle));
  }, [p.elements]);

  // Highlight and selection.
  useEffect(() => {
    const cy = cyRef.current;
    if (!cy) return;
    const hl = p.highlight ?? new Set<string>();
    const hl2 = p.highlight2 ?? new Set<string>();
    layer.current?.setMarks({ highlight: hl, dim: true, selected: p.selected });
    if (!marked.current && hl.size === 0 && hl2.size === 0 && !p.selected) return;
    marked.current = hl.size > 0 || hl2.size > 0 || p.selected !== undefined;
    cy.batch(() => {
      cy.elements().removeClass('hl hl2 dim sel');
      if (hl.size > 0 || hl2.size > 0) {
        cy.elements().forEach((el) => {
          const id = el.id();
          if (hl.has(id)) el.addClass('hl');
          else if (hl2.has(id)) el.addClass('hl2');
          else if (el.isEdge()) el.addClass('dim');
        });
      }
      if (p.selected) cy.getElementById(p.selected).addClass('sel');
    });
  }, [p.highlight, p.highlight2, p.selected, p.structureKey]);

  useEffect(
    () => () => {
      layer.current?.destroy();
      cyRef.current?.destroy();
      cyRef.current = undefined;
    },
    [],
  );

  return (
    <div class={`cy ${p.class ?? ''}`}>
      {useLayer && <canvas ref={canvas} class="cy-edges" aria-hidden="true" />}
      <div ref={box} class="cy-canvas" role="img" aria-label={p.label} />
      <div class="cy-zoom" role="group" aria-label="zoom">
        <button type="button" title="Zoom in" aria-label="Zoom in" onClick={() => zoomBy(cyRef.current, 1.4)}>
          +
        </button>
        <button type="button" title="Zoom out" aria-label="Zoom out" onClick={() => zoomBy(cyRef.current, 1 / 1.4)}>
          −
        </button>
        <button type="button" title="Fit the graph" aria-label="Fit the graph" onClick={() => cyRef.current?.fit(undefined, 24)}>
          ⤢
        </button>
      </div>
    </div>
  );
}

function zoomBy(cy: Core | undefined, f: number): void {
  if (!cy) return;
  cy.zoom({ level: cy.zoom() * f, renderedPosition: { x: cy.width() / 2, y: cy.height() / 2 } });
}
