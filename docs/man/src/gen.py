# Writes the man(3) pages of docs/man from pages.py (the text) and the
# public headers (each SYNOPSIS): python3 docs/man/src/gen.py
import re, glob, os, sys
HERE=os.path.dirname(os.path.abspath(__file__))
ROOT=os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
hdrs={}
for f in glob.glob(ROOT+'/include/mach/*.h')+glob.glob(ROOT+'/include/memobj/*.h'):
    hdrs[f]=open(f).read()

def proto(name):
    for f,s in hdrs.items():
        m=re.search(r'(^|\n)((?:const )?[a-z_][a-z_0-9 ]*[ \*])(%s)\((.*?)\);'%re.escape(name), s, re.S)
        if m:
            ret=m.group(2).strip()
            args=re.sub(r'\s+',' ',m.group(4)).strip()
            inc=os.path.relpath(f, ROOT+'/include')
            star='' 
            if ret.endswith('*'):
                return inc, '%s%s(%s);'%(ret,name,args)
            return inc, '%s %s(%s);'%(ret,name,args)
    return None, None

def esc(t):
    return t.replace('\\','\\e').replace('-','\\-')

def page(name, names, summary, desc, rets, notes, see, section=3, extra_syn=None, include=None):
    out=['.\\" Made by docs/man/src/gen.py from pages.py and the headers: edit pages.py, rerun.',
         '.TH %s %d 2026-12-01 memobj "memobj manual"'%(name.upper(), section), '.SH NAME',
         '%s \\- %s'%(', '.join('\\fB%s\\fP'%n if False else n for n in names).replace('_','_'), summary)]
    out[-1]='%s \\- %s'%(', '.join(names), summary)
    out.append('.SH SYNOPSIS')
    incs=[]
    protos=[]
    for n in names:
        inc,p=proto(n)
        if p:
            if inc not in incs: incs.append(inc)
            protos.append(p)
    if include: incs=[include]
    out.append('.nf')
    for i in incs:
        out.append('.B #include <%s>'%i)
    out.append('')
    for p in protos:
        # break long prototypes at commas
        words=p.split(', ')
        line=''; lines=[]
        for w in words:
            seg=(w if not line else ', '+w)
            if len(line)+len(seg)>72 and line:
                lines.append(line+','); line='        '+w
            else: line+=seg
        lines.append(line)
        out.append('.B '+'\n.B '.join('"%s"'%l.replace('"','\\(dq') for l in lines))
        out.append('')
    if extra_syn:
        out.extend(extra_syn.split('\n'))
    out.append('.fi')
    if names[0].startswith(('file_pager','dsm_pager','default_pager_start','redis_pager')):
        out.append('.PP\nLink with\n.BR "pkg\\-config \\-\\-cflags \\-\\-libs memobj\\-pagers" .')
    else:
        out.append('.PP\nLink with\n.BR "pkg\\-config \\-\\-cflags \\-\\-libs memobj" .')
    out.append('.SH DESCRIPTION')
    out.append(desc.strip())
    out.append('.SH RETURN VALUES')
    out.append(rets.strip())
    if notes:
        out.append('.SH MEMOBJ NOTES')
        out.append(notes.strip())
    out.append('.SH SEE ALSO')
    out.append(',\n'.join('.BR %s (%s)'%tuple(x.split('.')) for x in see)+'\n.PP\nThe OSF Mach kernel documentation is the reference for each call;\nmemobj\'s departures are also in\n.IR share/doc/memobj/departures.md .')
    text='\n'.join(out)+'\n'
    d=ROOT+'/docs/man'
    target='%s/%s.%d'%(d,name,section)
    # A page written by hand (by the room that owns the call) wins: only
    # pages this script made, or missing ones, are (re)written.
    if os.path.exists(target) and 'docs/man/src/gen.py' not in open(target).readline():
        print('kept hand-written', os.path.basename(target), file=sys.stderr)
        return
    open(target,'w').write(text)
    for n in names:
        if n!=name:
            open('%s/%s.%d'%(d,n,section),'w').write('.so man%d/%s.%d\n'%(section,name,section))
    missing=[n for n in names if proto(n)[1] is None]
    if missing: print('no prototype for', missing, file=sys.stderr)

exec(open(os.path.join(HERE, 'pages.py')).read())
