// Releases (`/api/v1/releases…`): named points of the whole configuration. Make one, list
// them, see what differs between two (or one and the current configuration), and roll back to
// one: the confirmation shows the diff the rollback would write (a dry run), and the rollback
// is one new change in the configuration log. Secrets are named in diffs, never shown.
import { html, useState, useEffect } from '../../vendor/preact-htm.module.js';
import { get, post } from '../../api.js';
import { t, fmtTime } from '../../i18n.js';
import {
  Card, Button, Alert, Badge, Loading, Table, Field, Select, DiffView, Empty, toast, Confirm,
} from '../../components.js';
import { errorAt } from './common.js';

const TONE = { added: 'good', removed: 'bad', changed: 'warn' };
const CHANGE = {
  added: () => t('releases.added'),
  removed: () => t('releases.removed'),
  changed: () => t('releases.changed'),
};
const enc = encodeURIComponent;

/** The entities of a diff, each with its changed fields. */
export function ReleaseDiffView({ entities, id }) {
  if (!entities || entities.length === 0) return html`<${Empty} title=${t('releases.no_differences')} />`;
  return html`<div class="release-diff" id=${id}>
    ${entities.map((e) => html`<details class="release-diff-entity" data-kind=${e.kind} data-id=${e.id} data-change=${e.change} open=${entities.length <= 5}>
      <summary><${Badge} tone=${TONE[e.change] || 'neutral'}>${CHANGE[e.change] ? CHANGE[e.change]() : e.change}<//>
        <span class="mono"> ${e.kind} ${e.id}</span>
        ${e.from_version !== undefined && e.to_version !== undefined
          ? html`<span class="muted small"> v${e.from_version} → v${e.to_version}</span>` : ''}</summary>
      <${DiffView} changes=${e.fields} />
    </details>`)}
  </div>`;
}

export function Releases({ tick, setTick }) {
  const [list, setList] = useState(null);
  const [err, setErr] = useState(null);
  const [name, setName] = useState('');
  const [comment, setComment] = useState('');
  const [formErr, setFormErr] = useState(null);
  const [from, setFrom] = useState('');
  const [to, setTo] = useState('current');
  const [diff, setDiff] = useState(null);
  const [diffErr, setDiffErr] = useState(null);
  const [rollback, setRollback] = useState(null);
  useEffect(() => {
    let live = true;
    get('/api/v1/releases').then((r) => live && setList(r.items)).catch((e) => live && setErr(e));
    return () => { live = false; };
  }, [tick]);

  const make = async (ev) => {
    ev.preventDefault();
    setFormErr(null);
    try {
      const r = await post('/api/v1/releases', { name, comment });
      toast(t('releases.made_toast', { name: r.name, count: r.entity_count }), 'success');
      setName('');
      setComment('');
      setTick((x) => x + 1);
    } catch (e) {
      setFormErr(e);
    }
  };
  const showDiff = async (a, b) => {
    setDiffErr(null);
    setDiff(null);
    try {
      setDiff(await get(`/api/v1/releases/diff?from=${enc(a)}&to=${enc(b)}`));
    } catch (e) {
      setDiffErr(e);
    }
  };
  const askRollback = async (rel) => {
    try {
      const plan = await post(`/api/v1/releases/${enc(rel)}/rollback`, { dry_run: true });
      setRollback(plan);
    } catch (e) {
      toast(e.message, 'error');
    }
  };

  const columns = [
    { key: 'name', label: t('releases.col_name'), render: (r) => html`<span class="mono">${r.name}</span>` },
    { key: 'created', label: t('releases.col_created'), render: (r) => fmtTime(r.created, { dateStyle: 'medium', timeStyle: 'short' }) },
    { key: 'by', label: t('releases.col_by') },
    { key: 'entity_count', label: t('releases.col_entities') },
    { key: 'comment', label: t('releases.col_comment') },
    { key: 'actions', label: '', render: (r) => html`<span class="row-actions">
      <${Button} id=${`release-diff-${r.name}`} onClick=${() => { setFrom(r.name); setTo('current'); showDiff(r.name, 'current'); }}>${t('releases.diff_current')}<//>
      <${Button} kind="danger" id=${`release-rollback-${r.name}`} onClick=${() => askRollback(r.name)}>${t('releases.rollback')}<//>
    </span>` },
  ];
  const points = [{ value: 'current', label: t('releases.current') }]
    .concat((list || []).map((r) => ({ value: r.name, label: r.name })));
  return html`<div id="releases">
    <${Card} title=${t('releases.make_title')} id="release-make">
      <p class="muted">${t('releases.intro')}</p>
      <form onSubmit=${make} class="form-row three">
        <${Field} label=${t('releases.name')} name="release-name" value=${name} onInput=${setName}
          error=${errorAt(formErr, 'name')} hint=${t('releases.name_hint')} />
        <${Field} label=${t('releases.comment')} name="release-comment" value=${comment} onInput=${setComment}
          error=${errorAt(formErr, 'comment')} />
        <${Button} kind="primary" type="submit" id="release-make-ok">${t('releases.make')}<//>
      </form>
      ${formErr && !errorAt(formErr, 'name', 'comment') && html`<${Alert}>${formErr.message}<//>`}
    <//>
    <${Card} title=${t('releases.title')} id="release-list">
      ${err && html`<${Alert}>${err.message}<//>`}
      ${!list && !err ? html`<${Loading} />`
        : list && html`<${Table} id="releases-table" columns=${columns} rows=${list} pageSize=${20} empty=${t('releases.none')} cards=${true} />`}
    <//>
    <${Card} title=${t('releases.diff_title')} id="release-diff">
      <div class="form-row three">
        <${Select} label=${t('releases.from')} name="diff-from" id="diff-from" value=${from}
          options=${[{ value: '', label: '—' }].concat(points)} onChange=${setFrom} />
        <${Select} label=${t('releases.to')} name="diff-to" id="diff-to" value=${to} options=${points} onChange=${setTo} />
        <${Button} id="diff-show" disabled=${!from} onClick=${() => showDiff(from, to)}>${t('releases.show_diff')}<//>
      </div>
      ${diffErr && html`<${Alert}>${diffErr.message}<//>`}
      ${diff && html`<${ReleaseDiffView} id="release-diff-result" entities=${diff.entities} />`}
    <//>
    ${rollback && html`<${Confirm} id="rollback-dialog" title=${t('releases.rollback_title', { name: rollback.release })}
      message=${rollback.entities.length ? t('releases.rollback_text', { count: rollback.entities.length })
        : t('releases.rollback_nothing')}
      confirmLabel=${t('releases.rollback')} onClose=${() => setRollback(null)}
      onConfirm=${async () => {
        const r = await post(`/api/v1/releases/${enc(rollback.release)}/rollback`, {});
        toast(t('releases.rolled_back_toast', { name: r.release, count: r.entities.length }), 'success');
        setTick((x) => x + 1);
      }}>
      <${ReleaseDiffView} id="rollback-diff" entities=${rollback.entities} />
    <//>`}
  </div>`;
}
